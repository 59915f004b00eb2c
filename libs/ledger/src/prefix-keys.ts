import { Cluster } from 'ioredis';
import type { RedisClient } from './scripts.js';

/**
 * Removes every key under `<prefix>:` (every master of a cluster scanned), returning how many:
 * for a run that had a prefix of its own on someone else's Redis (`jobpipe demo`). The prefix
 * must hold no glob characters; jobpipe's own ones do not.
 */
export async function removeKeysUnder(redis: RedisClient, prefix: string): Promise<number> {
  if (/[*?[\]\\]/.test(prefix)) throw new Error(`prefix ${JSON.stringify(prefix)} holds a glob character`);
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let removed = 0;
  for (const node of nodes) {
    for await (const keys of node.scanStream({ match: `${prefix}:*`, count: 1000 })) {
      // One key a call: a cluster refuses a multi-key UNLINK across slots.
      for (const key of keys as string[]) removed += await redis.unlink(key);
    }
  }
  return removed;
}
