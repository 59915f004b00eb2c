import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { common, loadConfig, redisConnectionFrom, redisSettings, Secret, type RedisConnectionSettings } from '@jobpipe/config';
import { RedisServer } from '@jobpipe/launcher';
import { Metrics, startHealthServer } from '@jobpipe/observability';
import { freePort } from '@jobpipe/launcher';
import { Cluster } from 'ioredis';
import {
  connectFrom,
  connectRedis,
  connectRoleRedis,
  duplicateClient,
  isRedisConnectionError,
  isRedisRefusal,
  redactUrl,
  redisErrorReason,
  redisOptionsFrom,
  RedisRefusedError,
  RedisUnreachableError,
} from './redis-connection.js';

const spec = { redisUrl: common.redisUrl, ...redisSettings, redisPrefix: common.redisPrefix };
const base: RedisConnectionSettings = { display: '', host: 'h', port: 6379, db: 0, tls: false, sentinelName: 'mymaster' };

describe('redisOptionsFrom', () => {
  it('a server: host, port, database and credentials; TLS only for rediss://', () => {
    expect(redisOptionsFrom({ ...base, port: 6380, db: 2, username: 'u', password: new Secret('p') })).toEqual({
      host: 'h',
      port: 6380,
      db: 2,
      username: 'u',
      password: 'p',
    });
    const tls = redisOptionsFrom({ ...base, tls: true, tlsCa: 'CA', tlsCert: 'CERT', tlsKey: new Secret('KEY'), tlsServername: 'name' });
    expect(tls.tls).toEqual({ ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'name' });
    // rediss:// with nothing else: TLS against Node's trusted CAs.
    expect(redisOptionsFrom({ ...base, tls: true }).tls).toEqual({});
  });

  it('Sentinel: the sentinels and master name instead of host and port, the same TLS to both', () => {
    const options = redisOptionsFrom({
      ...base,
      tls: true,
      tlsCa: 'CA',
      password: new Secret('p'),
      sentinels: [{ host: 's', port: 26379 }],
      sentinelName: 'm',
      sentinelPassword: new Secret('sp'),
    });
    expect(options).toEqual({
      db: 0,
      password: 'p',
      sentinels: [{ host: 's', port: 26379 }],
      name: 'm',
      sentinelPassword: 'sp',
      tls: { ca: 'CA' },
      enableTLSForSentinelMode: true,
      sentinelTLS: { ca: 'CA' },
    });
  });

  it('Redis Cluster: each node gets the credentials and TLS, and the client is a Cluster of the nodes', () => {
    const cluster = [
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 7001 },
    ];
    expect(redisOptionsFrom({ ...base, tls: true, tlsCa: 'CA', password: new Secret('p'), cluster })).toEqual({ db: 0, password: 'p', tls: { ca: 'CA' } });
    const client = connectFrom({ ...base, password: new Secret('p'), cluster }, { connectTimeout: 100 });
    client.on('error', () => {});
    try {
      expect(client).toBeInstanceOf(Cluster);
      const { options } = client as Cluster;
      // BullMQ's blocking connections need maxRetriesPerRequest null on every node.
      expect(options.redisOptions).toMatchObject({ password: 'p', maxRetriesPerRequest: null, connectionName: 'jobpipe', connectTimeout: 100 });
      expect(duplicateClient(client)).toBeInstanceOf(Cluster);
    } finally {
      client.disconnect();
    }
    const server = connectFrom(base, { lazyConnect: true });
    expect(server).not.toBeInstanceOf(Cluster);
    server.disconnect();
  });

  it('redactUrl masks the password, in the userinfo or as a parameter', () => {
    expect(redactUrl('redis://u:secret@h:1/0')).toBe('redis://u:***@h:1/0');
    expect(redactUrl('redis://h:1?password=secret')).toBe('redis://h:1?password=***');
  });
});

describe('a password in the configuration', () => {
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const wrong = `wrong-${randomBytes(8).toString('hex')}`;
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start({ password, appendOnly: false });
  });
  afterAll(() => server?.stop());

  it('reaches Redis, duplicates included, and never shows in pino logs or in /metrics', async () => {
    let logged = '';
    const sink = new Writable({ write: (chunk, _encoding, done) => ((logged += chunk.toString()), done()) });
    // The options of createLogger (@jobpipe/observability), into a buffer instead of stdout.
    const logger = pino({ level: 'trace', base: { role: 'test' }, formatters: { level: (label: string) => ({ level: label }) } }, sink);

    const config = loadConfig(spec, { env: { JOBPIPE_REDIS_URL: `redis://127.0.0.1:${server.port}`, JOBPIPE_REDIS_PASSWORD: password } });
    const connection = redisConnectionFrom(config)!;
    const redis = connectRedis(redisOptionsFrom(connection));
    const duplicate = redis.duplicate(); // as BullMQ's blocking connections are made
    try {
      expect(await redis.ping()).toBe('PONG');
      expect(await duplicate.ping()).toBe('PONG');
      // What a careless line might log: the whole config, the connection, the ready line.
      logger.info({ config }, 'config');
      logger.info({ connection }, 'connection');
      logger.info({ redis: connection.display }, 'ready');
      expect(logged).toContain(`"redis":"redis://:***@127.0.0.1:${server.port}/0"`);
    } finally {
      redis.disconnect();
      duplicate.disconnect();
    }

    // Refused: the error, as the roles log it and in full, shows neither password.
    const refused = connectRedis(redisOptionsFrom({ ...connection, password: new Secret(wrong) }), { retryStrategy: () => null, maxRetriesPerRequest: 0 });
    const error = await new Promise<Error>((resolve) => refused.once('error', resolve));
    const failed = await refused.ping().catch((e: Error) => e);
    refused.disconnect();
    expect(isRedisRefusal(error)).toBe(true);
    logger.warn({ err: error.message }, 'redis error');
    logger.error({ err: error }, 'redis refused the connection');
    logger.error({ err: failed }, 'command failed');
    expect(logged).toContain('WRONGPASS');

    const metrics = new Metrics();
    metrics.initialize('ventilator', 'p', []);
    const health = await startHealthServer({ port: 0, registry: metrics.registry, ready: () => true });
    const rendered = await (await fetch(`http://127.0.0.1:${health.port}/metrics`)).text();
    await health.close();
    expect(rendered).toContain('jobpipe_jobs_dispatched_total');

    for (const secret of [password, wrong]) {
      expect(logged.includes(secret), 'a password in the log').toBe(false);
      expect(rendered.includes(secret), 'a password in /metrics').toBe(false);
    }
  });
});

describe('when Redis says no, or is not there', () => {
  const display = 'redis://app:***@h:6379/0';

  it('a refusal names the settings to check, in one line', () => {
    const wrong = new RedisRefusedError(display, 'WRONGPASS invalid username-password pair or user is disabled.');
    expect(wrong).toMatchObject({ refusal: 'WRONGPASS', env: 'JOBPIPE_REDIS_PASSWORD', flag: 'redis-password' });
    expect(wrong.message).toBe(
      "Redis at redis://app:***@h:6379/0 refused the connection: WRONGPASS: the user name or password is wrong; check JOBPIPE_REDIS_PASSWORD (--redis-password, JOBPIPE_REDIS_PASSWORD_FILE or the URL's password) and JOBPIPE_REDIS_USERNAME (--redis-username)",
    );
    expect(new RedisRefusedError(display, 'NOAUTH Authentication required.').message).toMatch(
      /refused the connection: NOAUTH: this Redis wants a password and none was given; set JOBPIPE_REDIS_PASSWORD \(--redis-password/,
    );
    const noperm = new RedisRefusedError(display, "NOPERM User app has no permissions to run the 'info' command");
    expect(noperm).toMatchObject({ refusal: 'NOPERM', env: 'JOBPIPE_REDIS_USERNAME' });
    expect(noperm.message).toBe(
      "Redis at redis://app:***@h:6379/0 refused a command: NOPERM (Redis says: User app has no permissions to run the 'info' command); the ACL user of JOBPIPE_REDIS_USERNAME (--redis-username) needs the commands jobpipe uses and the keys under JOBPIPE_REDIS_PREFIX (--redis-prefix): grant them, or change the user or the prefix",
    );
    // TLS words it: which certificate and why, last.
    expect(new RedisRefusedError(display, 'self-signed certificate in certificate chain').message).toBe(
      `Redis at ${display} refused the connection: self-signed certificate in certificate chain`,
    );
  });

  it('an unreachable Redis names the setting that says where it is', () => {
    const error = new RedisUnreachableError(display, 'connection refused', 5000, {});
    expect(error).toMatchObject({ env: 'JOBPIPE_REDIS_URL', flag: 'redis-url', reason: 'connection refused' });
    expect(error.message).toBe(
      'cannot reach Redis at redis://app:***@h:6379/0, set by JOBPIPE_REDIS_URL (--redis-url): connection refused (tried for 5 s); start Redis there, or set JOBPIPE_REDIS_URL to the Redis that the roles use',
    );
    expect(new RedisUnreachableError(display, 'no answer', 5000, { sentinels: [{ host: 's', port: 26379 }] }).message).toMatch(
      /set by JOBPIPE_REDIS_SENTINELS \(--redis-sentinels\)/,
    );
    expect(new RedisUnreachableError(display, 'no answer', 5000, { cluster: [{ host: 'n', port: 7000 }] }).message).toMatch(
      /set by JOBPIPE_REDIS_CLUSTER \(--redis-cluster\)/,
    );
    expect(isRedisConnectionError(new Error('None of startup nodes is available'))).toBe(true);
    expect(redisErrorReason(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('connection refused');
    expect(redisErrorReason(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }))).toBe('no such host');
    expect(redisErrorReason(new Error('LOADING Redis is loading\nmore'))).toBe('LOADING Redis is loading');
    expect(isRedisConnectionError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isRedisConnectionError(new Error('WRONGPASS'))).toBe(false);
  });

  it('a role waiting for Redis says so once, naming JOBPIPE_REDIS_URL, and the tries after at debug level', async () => {
    const lines: { level: string; message: string }[] = [];
    const log = (level: string) => (_fields: object, message: string) => void lines.push({ level, message });
    const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), fatal: log('fatal') };
    const port = await freePort(); // nobody listens there
    const connection = redisConnectionFrom(loadConfig(spec, { env: { JOBPIPE_REDIS_URL: `redis://127.0.0.1:${port}` } }))!;
    const redis = connectRoleRedis(connection, logger);
    try {
      const deadline = Date.now() + 20_000;
      while (lines.filter((line) => line.level === 'debug').length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      redis.disconnect();
    }
    expect(lines.filter((line) => line.level === 'debug').length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((line) => line.level !== 'debug')).toEqual([
      { level: 'warn', message: `waiting for Redis at redis://127.0.0.1:${port}/0 (JOBPIPE_REDIS_URL): connection refused` },
    ]);
  });
});
