import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { common, ConfigError, redisSettings, settingName, type RedisConnectionSettings } from '@jobpipe/config';
import { LedgerKeys } from './keys.js';
import type { RedisClient } from './scripts.js';

/** Where and how to reach Redis, as `redisConnectionFrom` of @jobpipe/config returns it, less its display form. */
export type RedisConnectionSpec = Omit<RedisConnectionSettings, 'display'>;

/**
 * ioredis options for a connection spec: a server, or a master found through Sentinel; TLS with
 * the given CA, client certificate and server name. The options live on the client, so
 * `duplicate()` (which BullMQ's blocking connections use) connects the same way. For a cluster
 * (`spec.cluster`), the options of each node: see `connectFrom`.
 */
export function redisOptionsFrom(spec: RedisConnectionSpec): RedisOptions {
  const tls = spec.tls
    ? {
        ...(spec.tlsCa !== undefined ? { ca: spec.tlsCa } : {}),
        ...(spec.tlsCert !== undefined ? { cert: spec.tlsCert } : {}),
        ...(spec.tlsKey !== undefined ? { key: spec.tlsKey.reveal() } : {}),
        ...(spec.tlsServername !== undefined ? { servername: spec.tlsServername } : {}),
      }
    : undefined;
  const options: RedisOptions = {
    db: spec.db,
    ...(spec.username !== undefined ? { username: spec.username } : {}),
    ...(spec.password !== undefined ? { password: spec.password.reveal() } : {}),
  };
  if (spec.sentinels) {
    return {
      ...options,
      sentinels: spec.sentinels.map(({ host, port }) => ({ host, port })),
      name: spec.sentinelName,
      ...(spec.sentinelPassword !== undefined ? { sentinelPassword: spec.sentinelPassword.reveal() } : {}),
      // One TLS setting for both: a deployment that encrypts its master encrypts its sentinels.
      ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    };
  }
  if (spec.cluster) return { ...options, ...(tls ? { tls } : {}) };
  return { ...options, host: spec.host, port: spec.port, ...(tls ? { tls } : {}) };
}

/** How a client retries to connect: every 100 ms rising to 2 s. */
const reconnectDelay = (attempt: number) => Math.min(2000, 100 * attempt);

/**
 * A client for a connection spec, as `connectRedis` makes it: of one server (or a Sentinel
 * master), or of a Redis Cluster when `spec.cluster` names its nodes (ioredis's Cluster: it finds
 * the other nodes and follows MOVED and ASK; every node gets the spec's credentials and TLS).
 * `overrides` go on top of the server's options, or of each node's, with `retryStrategy` as the
 * cluster's own reconnect strategy.
 */
export function connectFrom(spec: RedisConnectionSpec, overrides: RedisOptions = {}): RedisClient {
  if (!spec.cluster) return connectRedis(redisOptionsFrom(spec), overrides);
  const { retryStrategy, sentinelRetryStrategy: _, ...nodeOverrides } = overrides;
  const options: ClusterOptions = {
    enableOfflineQueue: true,
    clusterRetryStrategy: (attempt) => (retryStrategy ?? reconnectDelay)(attempt) ?? null,
    redisOptions: {
      // BullMQ's blocking connections need it; and a command waits out a failover rather than failing.
      maxRetriesPerRequest: null,
      connectionName: 'jobpipe',
      ...redisOptionsFrom(spec),
      ...nodeOverrides,
    },
  };
  return guarded(
    new Cluster(
      spec.cluster.map(({ host, port }) => ({ host, port })),
      options,
    ),
  );
}

/**
 * A client that waits out a Redis outage instead of failing: commands queue while it reconnects
 * (every 100 ms rising to 2 s), so a role stalls, reports not ready, and resumes with nothing
 * dropped. BullMQ's blocking connections need `maxRetriesPerRequest: null` too.
 *
 * `target` is a URL (`redis://[user:password@]host:port`, for tests and tools) or options from
 * `redisOptionsFrom`; `overrides` go on top of either.
 */
export function connectRedis(target: string | RedisOptions, overrides: RedisOptions = {}): Redis {
  const defaults: RedisOptions = {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: reconnectDelay,
    lazyConnect: false,
    connectionName: 'jobpipe',
  };
  return guarded(typeof target === 'string' ? new Redis(target, { ...defaults, ...overrides }) : new Redis({ ...defaults, ...target, ...overrides }));
}

const REDACTED_COMMAND = { name: '(credentials)', args: ['[redacted]'] };

/**
 * ioredis hangs the command that failed on its errors, and the first command of every connection
 * is HELLO (or AUTH) with the username and password as arguments: a refused password would reach
 * any log line that prints the error whole (pino's err serializer copies every field). A guarded
 * client blanks those arguments as the error is emitted, which ioredis does in the same tick as
 * it rejects the queued commands with that same error object, so before any of their handlers
 * runs; its duplicates (BullMQ's connections) are guarded too.
 */
function guarded<C extends RedisClient>(redis: C): C {
  const redact = (error: Error & { command?: { name?: string } }) => {
    if (/^(auth|hello)$/i.test(error?.command?.name ?? '')) error.command = REDACTED_COMMAND;
  };
  redis.prependListener('error', (error: Error & { command?: { name?: string } }) => {
    redact(error);
    // Being a listener, this would silence ioredis's own report of an error nobody handles.
    if (redis.listenerCount('error') === 1) console.error('[ioredis] Unhandled error event:', error?.stack);
  });
  // A cluster reports each node's connection errors as `node error` (error, node address).
  if (redis instanceof Cluster) redis.prependListener('node error', redact);
  const duplicate = redis.duplicate.bind(redis) as (...args: unknown[]) => C;
  redis.duplicate = ((...args: unknown[]) => guarded(duplicate(...args))) as C['duplicate'];
  return redis;
}

/** A second connection made as `redis` was (BullMQ's blocking connections need their own). */
export function duplicateClient(redis: RedisClient): RedisClient {
  return redis instanceof Cluster ? redis.duplicate() : redis.duplicate();
}

/** True when the client is connected and its last PING answered within `timeoutMs`. */
export async function redisAnswers(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      redis.ping().then((reply) => reply === 'PONG'),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * True for what no reconnect mends: credentials Redis refuses (WRONGPASS, NOAUTH, NOPERM) and a
 * certificate that fails verification (unknown CA, wrong name, expired). An outage (refused,
 * reset, timed out) is false: that is waited out.
 */
export function isRedisRefusal(error: unknown): boolean {
  const message = String((error as Error | undefined)?.message ?? '');
  const code = String((error as NodeJS.ErrnoException | undefined)?.code ?? '');
  return (
    /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(message) ||
    /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_SSL_)/.test(code)
  );
}

/**
 * An error of a Redis client in one line: OpenSSL's messages span lines and name source files,
 * so a TLS error becomes its reason and code (`tlsv13 alert certificate required
 * (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)`).
 */
export function describeRedisError(error: unknown): string {
  const message = String((error as Error | undefined)?.message ?? error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = /SSL routines:[^:]*:([^:\n]+)/.exec(message)?.[1];
  if (reason) return code ? `${reason} (${code})` : reason;
  return message.split('\n')[0]!.trim();
}

/** `redis://user:password@host` with the password (and any `password` query parameter) as `***`, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) if (/pass/i.test(key)) parsed.searchParams.set(key, '***');
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}

/** What a connection error means, in a few plain words, by its code. */
const CONNECTION_PROBLEMS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'no answer (timed out)',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
};

/**
 * Why Redis could not be reached, in plain words: `connection refused`, `no such host`; other
 * errors as describeRedisError has them.
 */
export function redisErrorReason(error: unknown): string {
  const code = String((error as NodeJS.ErrnoException | undefined)?.code ?? '');
  return CONNECTION_PROBLEMS[code] ?? describeRedisError(error);
}

/** True for an error of a connection that failed or went away (what a reconnect mends). */
export function isRedisConnectionError(error: unknown): boolean {
  const code = String((error as NodeJS.ErrnoException | undefined)?.code ?? '');
  // The last three: a Redis Cluster none of whose nodes answers, or whose slots are not all served.
  return (
    code in CONNECTION_PROBLEMS ||
    /^(Connection is closed|All sentinels are unreachable|connect ETIMEDOUT|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache|CLUSTERDOWN)/.test(
      String((error as Error | undefined)?.message ?? ''),
    )
  );
}

/** The setting that says where Redis is: the sentinels or the cluster's nodes when there are any, else the URL. */
function whereSetting(connection: Pick<RedisConnectionSettings, 'sentinels' | 'cluster'>) {
  return connection.sentinels ? redisSettings.redisSentinels : connection.cluster ? redisSettings.redisCluster : common.redisUrl;
}

/**
 * Redis cannot be reached (refused, no such host, no answer): a CLI command gives up with one
 * line naming the setting that says where Redis is. (A role waits instead.)
 */
export class RedisUnreachableError extends ConfigError {
  override name = 'RedisUnreachableError';
  constructor(
    /** The Redis as logs show it, password masked. */
    readonly display: string,
    /** `connection refused`, `no such host`, ... */
    readonly reason: string,
    /** How long it was tried. */
    readonly waitedMs: number,
    connection: Pick<RedisConnectionSettings, 'sentinels' | 'cluster'>,
  ) {
    const where = whereSetting(connection);
    super(
      where.env,
      where.flag,
      `cannot reach Redis at ${display}, set by ${settingName(where)}: ${reason} (tried for ${Math.round(waitedMs / 1000)} s); start Redis there, or set ${where.env} to the Redis that the roles use`,
    );
  }
}

/** How Redis refused: credentials (WRONGPASS, NOAUTH), permissions (NOPERM) or TLS (a certificate). */
export type RedisRefusal = 'WRONGPASS' | 'NOAUTH' | 'NOPERM' | 'TLS';

/**
 * Redis refused the connection for a setting no reconnect mends: credentials, an ACL user's
 * permissions, a certificate. One line, naming the settings to check.
 */
export class RedisRefusedError extends ConfigError {
  override name = 'RedisRefusedError';
  readonly refusal: RedisRefusal;
  constructor(
    readonly display: string,
    /** The error as Redis or TLS gave it, in one line. */
    readonly reason: string,
  ) {
    const refusal = (/^(WRONGPASS|NOAUTH|NOPERM)\b/.exec(reason)?.[1] ?? 'TLS') as RedisRefusal;
    const setting = refusal === 'TLS' ? redisSettings.redisTlsCaFile : refusal === 'NOPERM' ? redisSettings.redisUsername : redisSettings.redisPassword;
    super(setting.env, setting.flag, `Redis at ${display} ${REFUSALS[refusal](reason)}`);
    this.refusal = refusal;
  }
}

const user = settingName(redisSettings.redisUsername);
const password = `${redisSettings.redisPassword.env} (--${redisSettings.redisPassword.flag}, ${redisSettings.redisPasswordFile.env} or the URL's password)`;
const REFUSALS: Record<RedisRefusal, (reason: string) => string> = {
  WRONGPASS: () => `refused the connection: WRONGPASS: the user name or password is wrong; check ${password} and ${user}`,
  NOAUTH: () => `refused the connection: NOAUTH: this Redis wants a password and none was given; set ${password}, and ${user} for an ACL user`,
  NOPERM: (reason) =>
    `refused a command: NOPERM (Redis says: ${reason.replace(/^NOPERM\s*/, '')}); the ACL user of ${user} needs the commands jobpipe uses and the keys under ${settingName(common.redisPrefix)}: grant them, or change the user or the prefix`,
  // Worded as TLS words it, the reason last: which certificate, and why.
  TLS: (reason) => `refused the connection: ${reason}`,
};

/** What connectRoleRedis logs with: pino's logger has this shape. */
interface RoleLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  fatal(fields: object, message: string): void;
}

/** After this long without an answer, a role says it is waiting for Redis, even before any error (a connect times out only after 10 s). */
const WAITING_NOTICE_MS = 3000;

/**
 * A role's Redis client. Connection trouble is waited out: one warn line when it starts
 * (`waiting for Redis at redis://127.0.0.1:6390/0 (JOBPIPE_REDIS_URL): connection refused`), one
 * info line when Redis answers again, the tries in between at debug level. Credentials, an ACL
 * user's permissions or a certificate that Redis refuses end the process with exit code 2 and
 * one line naming the settings to check (a RedisRefusedError), since no reconnect mends them and
 * a restart rereads the settings. It exits in the same tick as the error, before any command
 * fails with it. With `prefix`, a first command on the prefix's keys checks that the user may use
 * them (NOPERM is the same kind of refusal).
 */
export function connectRoleRedis(connection: RedisConnectionSettings, logger: RoleLogger, prefix?: string): RedisClient {
  const { display } = connection;
  const where = whereSetting(connection).env;
  const redis = connectFrom(connection);
  let waiting = false;
  let lastReason: string | undefined;
  const wait = (reason: string) => {
    if (waiting) return logger.debug({ redis: display, err: reason }, 'still waiting for Redis');
    waiting = true;
    logger.warn({ redis: display, err: reason }, `waiting for Redis at ${display} (${where}): ${reason}`);
  };
  const refused = (error: unknown) => {
    const refusal = new RedisRefusedError(display, describeRedisError(error));
    logger.fatal({ err: refusal.reason, redis: display }, 'redis refused the connection');
    process.stderr.write(`jobpipe: ${refusal.message}\n`);
    process.exit(2);
  };
  redis.on('error', (error: Error) => {
    if (isRedisRefusal(error)) return refused(error);
    lastReason = redisErrorReason(error);
    wait(lastReason);
  });
  // A cluster's nodes refuse each on its own connection; the cluster's error then only says that it failed.
  if (redis instanceof Cluster) redis.on('node error', (error: Error) => isRedisRefusal(error) && refused(error));
  const notice = setTimeout(() => redis.status !== 'ready' && wait(lastReason ?? 'no answer yet'), WAITING_NOTICE_MS);
  notice.unref();
  redis.on('ready', () => {
    clearTimeout(notice);
    if (waiting) logger.info({ redis: display }, 'Redis answers');
    waiting = false;
  });
  // An ACL user kept from the prefix's keys gets NOPERM on its first command: found at start,
  // when Redis first answers, rather than in a warning every second. Not awaited: a role does not
  // wait for Redis to start.
  if (prefix !== undefined) redis.exists(new LedgerKeys(prefix).pipelines).catch((error: unknown) => isRedisRefusal(error) && refused(error));
  return redis;
}
