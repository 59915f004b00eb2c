import { Redis, type RedisOptions } from 'ioredis';

/**
 * A client that waits out a Redis outage instead of failing: commands queue while it reconnects
 * (every 100 ms rising to 2 s), so a role stalls, reports not ready, and resumes with nothing
 * dropped. BullMQ's blocking connections need `maxRetriesPerRequest: null` too.
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(2000, 100 * attempt),
    lazyConnect: false,
    connectionName: 'jobpipe',
    ...options,
  });
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

/** `redis://user:password@host` with the password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}
