import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConnectionSettings } from '@jobpipe/config';

/** Where and how to reach Redis, as `redisConnectionFrom` of @jobpipe/config returns it, less its display form. */
export type RedisConnectionSpec = Omit<RedisConnectionSettings, 'display'>;

/**
 * ioredis options for a connection spec: a server, or a master found through Sentinel; TLS with
 * the given CA, client certificate and server name. The options live on the client, so
 * `duplicate()` (which BullMQ's blocking connections use) connects the same way.
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
  return { ...options, host: spec.host, port: spec.port, ...(tls ? { tls } : {}) };
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
    retryStrategy: (attempt) => Math.min(2000, 100 * attempt),
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
function guarded(redis: Redis): Redis {
  redis.prependListener('error', (error: Error & { command?: { name?: string } }) => {
    if (/^(auth|hello)$/i.test(error?.command?.name ?? '')) error.command = REDACTED_COMMAND;
    // Being a listener, this would silence ioredis's own report of an error nobody handles.
    if (redis.listenerCount('error') === 1) console.error('[ioredis] Unhandled error event:', error?.stack);
  });
  const duplicate = redis.duplicate.bind(redis);
  redis.duplicate = ((override?: Partial<RedisOptions>) => guarded(duplicate(override) as Redis)) as Redis['duplicate'];
  return redis;
}

/** True when the client is connected and its last PING answered within `timeoutMs`. */
export async function redisAnswers(redis: Redis, timeoutMs = 1000): Promise<boolean> {
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

/** What roleRedis logs with: pino's logger has this shape. */
interface RoleLogger {
  warn(fields: object, message: string): void;
  fatal(fields: object, message: string): void;
}

/**
 * A role's Redis client. Connection trouble is logged and waited out; credentials or a
 * certificate that Redis refuses end the process with exit code 2 and one line, since no
 * reconnect mends them and a restart rereads the settings. It exits in the same tick as the
 * error, before any command fails with it.
 */
export function connectRoleRedis(connection: RedisConnectionSettings, logger: RoleLogger): Redis {
  const { display } = connection;
  const redis = connectRedis(redisOptionsFrom(connection));
  redis.on('error', (error: Error) => {
    if (!isRedisRefusal(error)) return logger.warn({ err: describeRedisError(error) }, 'redis error');
    logger.fatal({ err: describeRedisError(error), redis: display }, 'redis refused the connection');
    process.stderr.write(`jobpipe: Redis at ${display} refused the connection: ${describeRedisError(error)}\n`);
    process.exit(2);
  });
  return redis;
}
