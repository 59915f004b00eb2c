import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { common } from './common-settings.js';
import { ConfigError, loadConfig } from './load-config.js';
import { redisConnectionFrom, redisSettings, Secret } from './redis-settings.js';

const spec = { redisUrl: common.redisUrl, ...redisSettings };
const dir = mkdtempSync(join(tmpdir(), 'jobpipe-redis-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE-the-key-itself\n-----END PRIVATE KEY-----\n';

/** loadConfig and redisConnectionFrom, as a role does at start. */
const connect = (env: Record<string, string>) => redisConnectionFrom(loadConfig(spec, { env }));

/** The one-line ConfigError that `run` throws. */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return error as ConfigError;
  }
  throw new Error('no ConfigError');
}

describe('Redis settings', () => {
  it('without JOBPIPE_REDIS_URL there is no Redis', () => {
    expect(connect({})).toBeUndefined();
  });

  it('reads host, port, database, user and password from the URL', () => {
    const connection = connect({ JOBPIPE_REDIS_URL: 'redis://app:p%40ss%20word@redis.example:6380/3' })!;
    expect(connection).toMatchObject({ host: 'redis.example', port: 6380, db: 3, tls: false, username: 'app', sentinels: undefined });
    expect(connection.password?.reveal()).toBe('p@ss word');
    expect(connection.display).toBe('redis://app:***@redis.example:6380/3');
    expect(connect({ JOBPIPE_REDIS_URL: 'rediss://[::1]' })).toMatchObject({ host: '::1', port: 6379, db: 0, tls: true, display: 'rediss://[::1]/0' });
  });

  it('takes JOBPIPE_REDIS_USERNAME and the password settings over the URL', () => {
    const url = 'redis://urluser:urlpass@h';
    const fromEnv = connect({ JOBPIPE_REDIS_URL: url, JOBPIPE_REDIS_USERNAME: 'envuser', JOBPIPE_REDIS_PASSWORD: ' env pass ' })!;
    expect([fromEnv.username, fromEnv.password?.reveal()]).toEqual(['envuser', ' env pass ']);
    const fromFile = connect({ JOBPIPE_REDIS_URL: url, JOBPIPE_REDIS_PASSWORD_FILE: file('pw', 'file-pass\r\n\n') })!;
    expect([fromFile.username, fromFile.password?.reveal()]).toEqual(['urluser', 'file-pass']);
  });

  it('reads the TLS files of a rediss:// URL, and keeps the key a secret', () => {
    const connection = connect({
      JOBPIPE_REDIS_URL: 'rediss://h:6380',
      JOBPIPE_REDIS_TLS_CA_FILE: file('ca.pem', PEM_CERT),
      JOBPIPE_REDIS_TLS_CERT_FILE: file('cert.pem', PEM_CERT),
      JOBPIPE_REDIS_TLS_KEY_FILE: file('key.pem', PEM_KEY),
      JOBPIPE_REDIS_TLS_SERVERNAME: 'redis.internal',
    })!;
    expect(connection).toMatchObject({ tls: true, tlsCa: PEM_CERT, tlsCert: PEM_CERT, tlsServername: 'redis.internal' });
    expect(connection.tlsKey?.reveal()).toBe(PEM_KEY);
  });

  it('lists sentinels with 26379 as their default port, and mymaster as the default name', () => {
    const connection = connect({ JOBPIPE_REDIS_URL: 'redis://:pw@ignored', JOBPIPE_REDIS_SENTINELS: 's1:26380, s2 ,[::1]:26381' })!;
    expect(connection.sentinels).toEqual([
      { host: 's1', port: 26380 },
      { host: 's2', port: 26379 },
      { host: '::1', port: 26381 },
    ]);
    expect(connection.sentinelName).toBe('mymaster');
    expect(connection.display).toBe('redis://:***@mymaster/0 via sentinels s1:26380,s2:26379,[::1]:26381');
  });

  it('lists the nodes of a Redis Cluster with 6379 as their default port', () => {
    const connection = connect({ JOBPIPE_REDIS_URL: 'rediss://app:pw@ignored:1', JOBPIPE_REDIS_CLUSTER: 'n1:7000, n2 ,[::1]:7002' })!;
    expect(connection.cluster).toEqual([
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 6379 },
      { host: '::1', port: 7002 },
    ]);
    expect(connection).toMatchObject({ tls: true, username: 'app', db: 0, sentinels: undefined });
    expect(connection.display).toBe('rediss://app:***@cluster n1:7000,n2:6379,[::1]:7002');
    expect(connect({ JOBPIPE_REDIS_URL: 'redis://h' })!.cluster).toBeUndefined();
  });

  it.each([
    [
      { JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_CLUSTER: 'a:7000', JOBPIPE_REDIS_SENTINELS: 's' },
      /JOBPIPE_REDIS_CLUSTER and JOBPIPE_REDIS_SENTINELS are both set/,
    ],
    [{ JOBPIPE_REDIS_URL: 'redis://h/2', JOBPIPE_REDIS_CLUSTER: 'a:7000' }, /database 2 with JOBPIPE_REDIS_CLUSTER: a Redis Cluster has database 0 only/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_CLUSTER: ' , ' }, /invalid JOBPIPE_REDIS_CLUSTER: names no cluster node/],
    [{ JOBPIPE_REDIS_CLUSTER: 'a:7000' }, /JOBPIPE_REDIS_CLUSTER is set but JOBPIPE_REDIS_URL is not/],
    [{ JOBPIPE_REDIS_PASSWORD: 'x' }, /JOBPIPE_REDIS_PASSWORD is set but JOBPIPE_REDIS_URL is not/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_PASSWORD: 'x', JOBPIPE_REDIS_PASSWORD_FILE: 'PWFILE' }, /both set: keep one/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_PASSWORD_FILE: '/no/such/file' }, /invalid JOBPIPE_REDIS_PASSWORD_FILE: no such file: \/no\/such\/file/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_PASSWORD_FILE: 'EMPTY' }, /is empty/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_PASSWORD_FILE: 'TWOLINES' }, /holds more than one line/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_PASSWORD: 'two\nlines' }, /invalid JOBPIPE_REDIS_PASSWORD: holds a line break/],
    [
      { JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_TLS_CA_FILE: 'CERT' },
      /JOBPIPE_REDIS_TLS_CA_FILE is set but JOBPIPE_REDIS_URL is redis:\/\/: TLS needs rediss:\/\//,
    ],
    [{ JOBPIPE_REDIS_URL: 'rediss://h', JOBPIPE_REDIS_TLS_CERT_FILE: 'CERT' }, /go together: set both or neither/],
    [{ JOBPIPE_REDIS_URL: 'rediss://h', JOBPIPE_REDIS_TLS_CA_FILE: 'KEY' }, /holds no PEM certificate/],
    [{ JOBPIPE_REDIS_URL: 'rediss://h', JOBPIPE_REDIS_TLS_CERT_FILE: 'CERT', JOBPIPE_REDIS_TLS_KEY_FILE: 'CERT' }, /holds no PEM private key/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_SENTINEL_NAME: 'm' }, /JOBPIPE_REDIS_SENTINEL_NAME is set but JOBPIPE_REDIS_SENTINELS is not/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_SENTINELS: 'a:1,b:x' }, /invalid JOBPIPE_REDIS_SENTINELS: "b:x" is not host:port/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_SENTINELS: 'a:70000' }, /out of range/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_SENTINELS: 'a', JOBPIPE_REDIS_SENTINEL_NAME: 'has space' }, /not a Sentinel master name/],
    [{ JOBPIPE_REDIS_URL: 'redis://h/x' }, /database "x" is not a number/],
    [{ JOBPIPE_REDIS_URL: 'redis://h?password=x' }, /query parameters are not read/],
    [{ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_USERNAME: 'two words' }, /is not a user name/],
  ])('refuses %o with one line', (env, message) => {
    const files: Record<string, string> = {
      PWFILE: file('pw2', 'x\n'),
      EMPTY: file('empty', '\n'),
      TWOLINES: file('two', 'a\nb\n'),
      CERT: file('c.pem', PEM_CERT),
      KEY: file('k.pem', PEM_KEY),
    };
    const resolved = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, files[value] ?? value]));
    expect(configError(() => connect(resolved)).message).toMatch(message);
  });

  it('never shows a secret: not in errors, JSON, String() or util.inspect', () => {
    const password = 'pw-9f8e7d6c';
    const error = configError(() => connect({ JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_PASSWORD: `${password}\n` }));
    expect(error.message).not.toContain(password);
    const config = loadConfig(spec, {
      env: { JOBPIPE_REDIS_URL: 'redis://h', JOBPIPE_REDIS_PASSWORD: password, JOBPIPE_REDIS_SENTINELS: 's', JOBPIPE_REDIS_SENTINEL_PASSWORD: password },
    });
    const connection = redisConnectionFrom(config)!;
    for (const text of [
      JSON.stringify(config),
      JSON.stringify(connection),
      String(connection.password),
      inspect(config),
      inspect(connection, { depth: 5 }),
      connection.display,
    ]) {
      expect(text).not.toContain(password);
    }
    expect(JSON.stringify({ password: new Secret(password) })).toBe('{"password":"[redacted]"}');
  });
});
