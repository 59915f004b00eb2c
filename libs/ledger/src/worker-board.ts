import type { LedgerKeys } from './keys.js';
import type { RedisClient } from './scripts.js';

/** One worker session as a ventilator publishes it for the console. */
export interface BoardWorker {
  id: string;
  /** The jobs it runs at once, as its Credit says; null from a worker that does not say. */
  slots: number | null;
  /** Of those, how many run now, at most: its held jobs, up to its slots (null without slots). */
  busy: number | null;
  /** Jobs sent to it and not recorded yet: running, or prefetched. */
  held: number;
  /** Jobs more it asked for. */
  credit: number;
  sent: number;
  /** Jobs it finished per second since the board before. */
  jobsPerSecond: number;
  draining: boolean;
  lastSeenAt: number;
}

/** What a ventilator publishes every second (apps/ventilator/src/worker-board.ts): per pipeline it serves, its work and its workers. */
export interface WorkerBoard {
  ventilator: string;
  at: number;
  pipelines: Record<string, { jobsWaiting: number; inFlight: number; workers: BoardWorker[] }>;
}

/** The boards of the ventilators that published within `freshMs`; read one key at a time (each in its own slot on a cluster). */
export async function readWorkerBoards(redis: RedisClient, keys: LedgerKeys, freshMs: number, now = Date.now()): Promise<WorkerBoard[]> {
  const ventilators = await redis.zrangebyscore(keys.boards, now - freshMs, '+inf');
  const texts = await Promise.all(ventilators.map((ventilator) => redis.get(keys.board(ventilator))));
  const boards: WorkerBoard[] = [];
  for (const text of texts) {
    if (text === null) continue;
    try {
      boards.push(JSON.parse(text) as WorkerBoard);
    } catch {
      // Not a board (written by something else under the prefix): skipped.
    }
  }
  return boards;
}
