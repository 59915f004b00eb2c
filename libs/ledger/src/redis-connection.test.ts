import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { common, loadConfig, redisConnectionFrom, redisSettings, Secret, type RedisConnectionSettings } from '@jobpipe/config';
import { RedisServer } from '@jobpipe/launcher';
import { Metrics, startHealthServer } from '@jobpipe/observability';
import { connectRedis, isRedisRefusal, redactUrl, redisOptionsFrom } from './redis-connection.js';

const spec = { redisUrl: common.redisUrl, ...redisSettings, redisPrefix: common.redisPrefix };
const base: RedisConnectionSettings = { display: '', host: 'h', port: 6379, db: 0, tls: false, sentinelName: 'mymaster' };

describe('redisOptionsFrom', () => {
  it('a server: host, port, database and credentials; TLS only for rediss://', () => {
    expect(redisOptionsFrom({ ...base, port: 6380, db: 2, username: 'u', password: new Secret('p') })).toEqual({ host: 'h', port: 6380, db: 2, username: 'u', password: 'p' });
    const tls = redisOptionsFrom({ ...base, tls: true, tlsCa: 'CA', tlsCert: 'CERT', tlsKey: new Secret('KEY'), tlsServername: 'name' });
    expect(tls.tls).toEqual({ ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'name' });
    // rediss:// with nothing else: TLS against Node's trusted CAs.
    expect(redisOptionsFrom({ ...base, tls: true }).tls).toEqual({});
  });

  it('Sentinel: the sentinels and master name instead of host and port, the same TLS to both', () => {
    const options = redisOptionsFrom({ ...base, tls: true, tlsCa: 'CA', password: new Secret('p'), sentinels: [{ host: 's', port: 26379 }], sentinelName: 'm', sentinelPassword: new Secret('sp') });
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
