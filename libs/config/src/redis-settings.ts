import { inspect } from 'node:util';
import { ConfigError } from './load-config.js';
import { existingFile, integer, readTextFile, setting, type Setting } from './settings.js';

/**
 * A value that must never be printed (a password, a private key). Logs, JSON, `String()` and
 * `util.inspect` all show `[redacted]`; only `reveal()` gives the value, for the client that sends it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** A password given as text: any characters but line breaks and NUL, kept exactly (no trimming). */
export function secret(raw: string): Secret {
  // Never echo the value: this message ends up in a ConfigError on the terminal or in a log.
  if (/[\r\n\0]/.test(raw)) throw new Error('holds a line break or a NUL character (the value is not shown)');
  return new Secret(raw);
}

/**
 * A password in a file (a Kubernetes or Compose secret): its text without trailing line breaks,
 * which `echo` and editors add. Read once, at start.
 */
export function secretFile(raw: string): Secret {
  const path = existingFile(raw);
  const text = readTextFile(path).replace(/[\r\n]+$/, '');
  if (text === '') throw new Error(`${path} is empty`);
  if (/[\r\n\0]/.test(text)) throw new Error(`${path} holds more than one line (the password is its only line)`);
  return new Secret(text);
}

/** A PEM certificate file (one or more certificates, e.g. a CA bundle), read at start. */
export function certificateFile(raw: string): string {
  const path = existingFile(raw);
  const text = readTextFile(path);
  if (!/-----BEGIN [A-Z ]*CERTIFICATE-----/.test(text)) throw new Error(`${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return text;
}

/** A PEM private key file, read at start and kept as a Secret. */
export function privateKeyFile(raw: string): Secret {
  const path = existingFile(raw);
  const text = readTextFile(path);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error(`${path} holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)`);
  return new Secret(text);
}

/** A Redis ACL user name: one word. */
export function redisUsername(raw: string): string {
  const value = raw.trim();
  if (!/^[^\s\0]+$/.test(value)) throw new Error(`"${raw}" is not a user name (one word, no spaces)`);
  return value;
}

/** A host name or IP address that a server certificate names. */
export function tlsServername(raw: string): string {
  const value = raw.trim();
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(value)) throw new Error(`"${raw}" is not a host name`);
  return value;
}

export interface RedisEndpoint {
  host: string;
  port: number;
}

const SENTINEL_PORT = 26379;
const REDIS_PORT = 6379;

/** `host:port,host:port` (`defaultPort` when left out; IPv6 as `[::1]:26379`); `what` names one entry. */
function endpointList(raw: string, defaultPort: number, what: string): RedisEndpoint[] {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new Error(`names no ${what} (expected host:port,host:port)`);
  return entries.map((entry) => {
    const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(entry);
    if (!match) throw new Error(`"${entry}" is not host:port`);
    const port = match[2] === undefined ? defaultPort : Number(match[2]);
    if (port < 1 || port > 65535) throw new Error(`port ${port} of "${entry}" is out of range`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

/** `host:port,host:port` (port 26379 when left out; IPv6 as `[::1]:26379`). */
export function sentinelList(raw: string): RedisEndpoint[] {
  return endpointList(raw, SENTINEL_PORT, 'sentinel');
}

/** Nodes of a Redis Cluster: `host:port,host:port` (port 6379 when left out; IPv6 as `[::1]:7000`). */
export function clusterNodeList(raw: string): RedisEndpoint[] {
  return endpointList(raw, REDIS_PORT, 'cluster node');
}

/** A Sentinel master name: letters, digits and `.-_` (what Sentinel itself accepts). */
export function sentinelName(raw: string): string {
  const value = raw.trim();
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(value)) throw new Error(`"${raw}" is not a Sentinel master name (letters, digits and . _ -)`);
  return value;
}

const DEFAULT_SENTINEL_NAME = 'mymaster';

/**
 * How the ventilator, the sink and the Redis commands of the CLI reach Redis, besides
 * JOBPIPE_REDIS_URL (which says whether there is a Redis at all). Spread into a settings spec
 * next to `common.redisUrl`; `redisConnectionFrom(config)` checks them together.
 */
export const redisSettings = {
  redisUsername: setting<string | undefined>({
    env: 'JOBPIPE_REDIS_USERNAME',
    flag: 'redis-username',
    description: "Redis ACL user; wins over the URL's user",
    default: undefined,
    defaultText: "the URL's, else `default`",
    parse: redisUsername,
  }),
  redisPassword: setting<Secret | undefined>({
    env: 'JOBPIPE_REDIS_PASSWORD',
    flag: 'redis-password',
    description: "Redis password; wins over the URL's. Prefer this variable or the _FILE form to a flag (visible in ps)",
    default: undefined,
    defaultText: "the URL's, else none",
    parse: secret,
  }),
  redisPasswordFile: setting<Secret | undefined>({
    env: 'JOBPIPE_REDIS_PASSWORD_FILE',
    flag: 'redis-password-file',
    description: 'file holding the Redis password (a mounted secret), trailing line break ignored; not with JOBPIPE_REDIS_PASSWORD',
    default: undefined,
    parse: secretFile,
  }),
  redisTlsCaFile: setting<string | undefined>({
    env: 'JOBPIPE_REDIS_TLS_CA_FILE',
    flag: 'redis-tls-ca-file',
    description: "rediss:// only: PEM file of the CA(s) that signed Redis's certificate (a private CA)",
    default: undefined,
    defaultText: "Node's trusted CAs",
    parse: certificateFile,
  }),
  redisTlsCertFile: setting<string | undefined>({
    env: 'JOBPIPE_REDIS_TLS_CERT_FILE',
    flag: 'redis-tls-cert-file',
    description: "rediss:// only: PEM client certificate, for Redis's tls-auth-clients (with JOBPIPE_REDIS_TLS_KEY_FILE)",
    default: undefined,
    parse: certificateFile,
  }),
  redisTlsKeyFile: setting<Secret | undefined>({
    env: 'JOBPIPE_REDIS_TLS_KEY_FILE',
    flag: 'redis-tls-key-file',
    description: 'rediss:// only: PEM private key of JOBPIPE_REDIS_TLS_CERT_FILE',
    default: undefined,
    parse: privateKeyFile,
  }),
  redisTlsServername: setting<string | undefined>({
    env: 'JOBPIPE_REDIS_TLS_SERVERNAME',
    flag: 'redis-tls-servername',
    description: "rediss:// only: the name Redis's certificate must carry, when not the host connected to (e.g. Sentinel hands out IP addresses)",
    default: undefined,
    defaultText: 'the host connected to',
    parse: tlsServername,
  }),
  redisSentinels: setting<RedisEndpoint[] | undefined>({
    env: 'JOBPIPE_REDIS_SENTINELS',
    flag: 'redis-sentinels',
    description: 'Redis Sentinels (host:port,host:port) to ask for the master; the URL then gives only scheme, credentials and database',
    default: undefined,
    defaultText: '(none: the URL names the server)',
    parse: sentinelList,
  }),
  redisSentinelName: setting<string | undefined>({
    env: 'JOBPIPE_REDIS_SENTINEL_NAME',
    flag: 'redis-sentinel-name',
    description: 'with JOBPIPE_REDIS_SENTINELS: the master name the sentinels monitor',
    default: undefined,
    defaultText: `\`${DEFAULT_SENTINEL_NAME}\``,
    parse: sentinelName,
  }),
  redisSentinelPassword: setting<Secret | undefined>({
    env: 'JOBPIPE_REDIS_SENTINEL_PASSWORD',
    flag: 'redis-sentinel-password',
    description: "with JOBPIPE_REDIS_SENTINELS: the sentinels' own password (their requirepass), if they have one",
    default: undefined,
    parse: secret,
  }),
  redisCluster: setting<RedisEndpoint[] | undefined>({
    env: 'JOBPIPE_REDIS_CLUSTER',
    flag: 'redis-cluster',
    description:
      'nodes of a Redis Cluster (host:port,host:port; a few are enough, the client finds the rest); the URL then gives only scheme and credentials, database 0. Not with JOBPIPE_REDIS_SENTINELS',
    default: undefined,
    defaultText: '(none: the URL names one server)',
    parse: clusterNodeList,
  }),
} satisfies Record<string, Setting<unknown>>;

/** The values of `redisSettings` and JOBPIPE_REDIS_URL, as loadConfig returns them. */
export type RedisConfig = { readonly redisUrl?: string | undefined } & {
  readonly [K in keyof typeof redisSettings]?: (typeof redisSettings)[K] extends Setting<infer T> ? T : never;
};

/**
 * Where and how to reach Redis, every setting checked against the others. The secrets stay
 * `Secret`s until the client is built (`redisOptionsFrom` of @jobpipe/ledger).
 */
export interface RedisConnectionSettings {
  /** For logs and notices: the URL with any password as `***`, or the sentinels and master name. */
  readonly display: string;
  /** Server (ignored with sentinels). */
  readonly host: string;
  readonly port: number;
  readonly db: number;
  /** rediss:// : TLS to the server, and to the sentinels when there are any. */
  readonly tls: boolean;
  readonly username?: string | undefined;
  readonly password?: Secret | undefined;
  readonly tlsCa?: string | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: Secret | undefined;
  readonly tlsServername?: string | undefined;
  readonly sentinels?: readonly RedisEndpoint[] | undefined;
  readonly sentinelName: string;
  readonly sentinelPassword?: Secret | undefined;
  /** Nodes of a Redis Cluster to start from (host and port of the URL ignored). */
  readonly cluster?: readonly RedisEndpoint[] | undefined;
}

const env = (key: keyof typeof redisSettings) => redisSettings[key].env;
const fail = (key: keyof typeof redisSettings | 'redisUrl', message: string) =>
  key === 'redisUrl' ? new ConfigError('JOBPIPE_REDIS_URL', 'redis-url', message) : new ConfigError(redisSettings[key].env, redisSettings[key].flag, message);

/**
 * Checks the Redis settings together and returns how to connect, or undefined when there is no
 * JOBPIPE_REDIS_URL (persistence off). Throws a one-line ConfigError (never showing a secret) for
 * a combination that cannot work.
 *
 * Precedence: JOBPIPE_REDIS_USERNAME over the URL's user; JOBPIPE_REDIS_PASSWORD or
 * JOBPIPE_REDIS_PASSWORD_FILE (not both) over the URL's password.
 */
export function redisConnectionFrom(config: RedisConfig): RedisConnectionSettings | undefined {
  if (config.redisUrl === undefined) {
    const given = (Object.keys(redisSettings) as (keyof typeof redisSettings)[]).find((key) => config[key] !== undefined);
    if (given) throw fail(given, `${env(given)} is set but JOBPIPE_REDIS_URL is not (without it there is no Redis and persistence is off)`);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(config.redisUrl);
  } catch {
    throw fail('redisUrl', 'invalid JOBPIPE_REDIS_URL: is not a URL (expected redis://[user:password@]host[:port][/db])');
  }
  if (url.search !== '') throw fail('redisUrl', 'invalid JOBPIPE_REDIS_URL: query parameters are not read; use the JOBPIPE_REDIS_* settings');
  const dbText = url.pathname.replace(/^\//, '');
  if (!/^\d{0,2}$/.test(dbText)) throw fail('redisUrl', `invalid JOBPIPE_REDIS_URL: database "${dbText}" is not a number`);
  const tls = url.protocol === 'rediss:';

  if (config.redisPassword !== undefined && config.redisPasswordFile !== undefined) {
    throw fail('redisPasswordFile', 'JOBPIPE_REDIS_PASSWORD and JOBPIPE_REDIS_PASSWORD_FILE are both set: keep one');
  }
  const urlUser = url.username === '' ? undefined : decodeURIComponent(url.username);
  const urlPassword = url.password === '' ? undefined : new Secret(decodeURIComponent(url.password));
  const username = config.redisUsername ?? urlUser;
  const password = config.redisPassword ?? config.redisPasswordFile ?? urlPassword;

  if (!tls) {
    const tlsKey = (['redisTlsCaFile', 'redisTlsCertFile', 'redisTlsKeyFile', 'redisTlsServername'] as const).find((key) => config[key] !== undefined);
    if (tlsKey) throw fail(tlsKey, `${env(tlsKey)} is set but JOBPIPE_REDIS_URL is redis://: TLS needs rediss://`);
  }
  if ((config.redisTlsCertFile === undefined) !== (config.redisTlsKeyFile === undefined)) {
    throw fail(
      config.redisTlsCertFile === undefined ? 'redisTlsKeyFile' : 'redisTlsCertFile',
      'JOBPIPE_REDIS_TLS_CERT_FILE and JOBPIPE_REDIS_TLS_KEY_FILE go together: set both or neither',
    );
  }
  const sentinels = config.redisSentinels;
  if (sentinels === undefined) {
    const sentinelKey = (['redisSentinelName', 'redisSentinelPassword'] as const).find((key) => config[key] !== undefined);
    if (sentinelKey) throw fail(sentinelKey, `${env(sentinelKey)} is set but JOBPIPE_REDIS_SENTINELS is not`);
  }
  const cluster = config.redisCluster;
  if (cluster !== undefined && sentinels !== undefined)
    throw fail('redisCluster', 'JOBPIPE_REDIS_CLUSTER and JOBPIPE_REDIS_SENTINELS are both set: a Redis Cluster has no sentinels; keep one');
  if (cluster !== undefined && Number(dbText || 0) !== 0)
    throw fail('redisUrl', `invalid JOBPIPE_REDIS_URL: database ${dbText} with JOBPIPE_REDIS_CLUSTER: a Redis Cluster has database 0 only`);
  const name = config.redisSentinelName ?? DEFAULT_SENTINEL_NAME;
  const db = Number(dbText || 0);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? 6379 : Number(url.port);

  const auth = username !== undefined ? `${encodeURIComponent(username)}${password ? ':***' : ''}@` : password ? ':***@' : '';
  const list = (endpoints: readonly RedisEndpoint[]) =>
    endpoints.map((s) => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)).join(',');
  const display = sentinels
    ? `${url.protocol}//${auth}${name}/${db} via sentinels ${list(sentinels)}`
    : cluster
      ? `${url.protocol}//${auth}cluster ${list(cluster)}`
      : `${url.protocol}//${auth}${url.host}/${db}`;

  return {
    display,
    host,
    port,
    db,
    tls,
    username,
    password,
    tlsCa: config.redisTlsCaFile,
    tlsCert: config.redisTlsCertFile,
    tlsKey: config.redisTlsKeyFile,
    tlsServername: config.redisTlsServername,
    sentinels,
    sentinelName: name,
    sentinelPassword: config.redisSentinelPassword,
    cluster,
  };
}

/**
 * Writes that wait for replicas (Redis's WAIT): the ventilator's write-aheads and the sink's
 * records count only once this many replicas have them. Spread into the ventilator's and the
 * sink's settings; `replicationFrom` checks them against the connection.
 */
export const replicationSettings = {
  redisWaitReplicas: setting({
    env: 'JOBPIPE_REDIS_WAIT_REPLICAS',
    flag: 'redis-wait-replicas',
    description:
      'replicas that must have each write-ahead and each record before it counts (Redis WAIT); fewer within JOBPIPE_REDIS_WAIT_TIMEOUT_MS fails the write, which is tried again. 0: none (replication stays asynchronous). Not with a Redis Cluster',
    default: 0,
    parse: integer(0, 16),
  }),
  redisWaitTimeoutMs: setting({
    env: 'JOBPIPE_REDIS_WAIT_TIMEOUT_MS',
    flag: 'redis-wait-timeout-ms',
    description: 'with JOBPIPE_REDIS_WAIT_REPLICAS: how long a write waits for its replicas, in ms',
    default: 1000,
    parse: integer(10, 60_000),
  }),
};

/** What `RedisLedger.requireReplicas` takes: undefined when writes wait for no replica. */
export function replicationFrom(
  config: { redisWaitReplicas: number; redisWaitTimeoutMs: number },
  connection: RedisConnectionSettings | undefined,
): { replicas: number; timeoutMs: number } | undefined {
  if (config.redisWaitReplicas === 0) return undefined;
  const { env: name, flag } = replicationSettings.redisWaitReplicas;
  if (!connection) throw new ConfigError(name, flag, `${name} is set but JOBPIPE_REDIS_URL is not (without Redis there is nothing to replicate)`);
  if (connection.cluster)
    throw new ConfigError(
      name,
      flag,
      `${name} does not work with a Redis Cluster (WAIT cannot follow a batch's slot): use one server with replicas, or Sentinel`,
    );
  return { replicas: config.redisWaitReplicas, timeoutMs: config.redisWaitTimeoutMs };
}
