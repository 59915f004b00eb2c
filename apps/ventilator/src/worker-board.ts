import type { RedisClient, RedisLedger, WorkerBoard } from '@jobpipe/ledger';
import type { LaneBoard } from './pipeline-lane.js';

/** How often a ventilator publishes its board, and how long a board outlives a ventilator that stopped. */
export const BOARD_EVERY_MS = 1000;
export const BOARD_TTL_MS = 5000;

/**
 * Turns lane snapshots into boards, with each session's rate from the one before: jobs that left
 * a worker's hands (sent, no longer held) over the time between two boards.
 */
export class WorkerBoardMaker {
  #previous = new Map<string, { at: number; finished: number }>();

  constructor(readonly ventilator: string) {}

  make(lanes: ReadonlyMap<string, { board(): LaneBoard }>, now = Date.now()): WorkerBoard {
    const next = new Map<string, { at: number; finished: number }>();
    const pipelines: WorkerBoard['pipelines'] = {};
    for (const [name, lane] of lanes) {
      const { jobsWaiting, inFlight, workers } = lane.board();
      pipelines[name] = {
        jobsWaiting,
        inFlight,
        workers: workers.map(({ key, ...worker }) => {
          const finished = worker.sent - worker.held;
          const id = `${name}\u0000${key}`;
          const before = this.#previous.get(id);
          next.set(id, { at: now, finished });
          const seconds = before ? (now - before.at) / 1000 : 0;
          const jobsPerSecond = before && seconds > 0 ? Math.max(0, finished - before.finished) / seconds : 0;
          const busy = worker.slots === null ? null : Math.min(worker.held, worker.slots);
          return { ...worker, busy, jobsPerSecond: Math.round(jobsPerSecond * 10) / 10 };
        }),
      };
    }
    this.#previous = next;
    return { ventilator: this.ventilator, at: now, pipelines };
  }
}

/**
 * Publishes the ventilator's worker board to Redis every BOARD_EVERY_MS, where the console reads
 * it (and the boards of every other ventilator): the console needs no address of any process.
 * A board expires BOARD_TTL_MS after the last one. Returns the stopper.
 */
export function publishWorkerBoard(ledger: RedisLedger, lanes: ReadonlyMap<string, { board(): LaneBoard }>, ventilator: string): () => void {
  const maker = new WorkerBoardMaker(ventilator);
  const redis: RedisClient = ledger.redis;
  const publish = async () => {
    const board = maker.make(lanes);
    try {
      await redis.set(ledger.keys.board(ventilator), JSON.stringify(board), 'PX', BOARD_TTL_MS);
      await redis.zadd(ledger.keys.boards, board.at, ventilator);
      // Ventilators gone for a while leave the list (their boards have expired).
      await redis.zremrangebyscore(ledger.keys.boards, '-inf', board.at - 10 * BOARD_TTL_MS);
    } catch {
      // Redis away: the next board says it all again; the role's own connection reports Redis.
    }
  };
  const timer = setInterval(() => void publish(), BOARD_EVERY_MS);
  timer.unref();
  void publish();
  return () => clearInterval(timer);
}
