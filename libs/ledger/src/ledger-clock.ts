import { duplicateClient } from './redis-connection.js';
import type { RedisClient } from './scripts.js';

/**
 * How often a role moves the clock, in ms: a loss of more than this of Redis's writes is noticed.
 * Ten round trips a second per ventilator and sink are nothing to Redis.
 */
export const CLOCK_TICK_MS = 100;

/** Another role's report within this long of this one's own is the same loss, not another. */
const SAME_LOSS_MS = 5000;

/** What a tick needs of a Redis client: INCR of the clock and GET of the count of losses, as one pipeline. */
export interface ClockRedis {
  pipeline(): { incr(key: string): unknown; get(key: string): unknown; exec(): Promise<[Error | null, unknown][] | null> };
  incr(key: string): Promise<number>;
}

/**
 * Notices that Redis went back in time: a failover to a replica that lagged, a restart from an
 * older snapshot, an AOF fsync'd once a second after a host crash. Every durable role INCRs one
 * counter (`clock`) every CLOCK_TICK_MS and keeps the highest value it got; a later INCR that
 * answers no more than that means some of this process's increments (and whatever else Redis
 * acknowledged in that time) are gone. The role that notices counts it in a second key
 * (`wentBack`), written after the loss, which every role reads at each tick: so all of them hear
 * of a loss that took only one's increments. A loss shorter than a tick of every role may pass
 * unseen; it is caught per batch (the ventilator's BatchRepair, the sink's fold against its
 * counts). Redis restarting with everything kept (AOF always, a replica in sync) moves the clock
 * on, and is not reported.
 */
export class LedgerClock {
  #highest = 0;
  /** The count of losses at the last tick; undefined before the first. */
  #losses: number | undefined;
  #reportedAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;

  constructor(
    private readonly redis: ClockRedis,
    private readonly keys: { clock: string; wentBack: string },
    /**
     * Called when Redis went back: with the clock as Redis has it and the highest value this
     * process had seen, or, when another role noticed it, both undefined.
     */
    private readonly wentBack: (now?: number, seen?: number) => void,
  ) {}

  start(everyMs = CLOCK_TICK_MS): void {
    this.#timer ??= setInterval(() => void this.tick(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One tick; true when it reported a loss. Errors (Redis away) wait for the next tick. */
  async tick(): Promise<boolean> {
    if (this.#ticking) return false;
    this.#ticking = true;
    try {
      const pipeline = this.redis.pipeline();
      pipeline.incr(this.keys.clock);
      pipeline.get(this.keys.wentBack);
      const replies = await pipeline.exec();
      if (!replies || replies.some(([error]) => error)) return false;
      const now = Number(replies[0]![1]);
      const losses = Number(replies[1]![1] ?? 0);
      const seen = this.#highest;
      this.#highest = now;
      const heard = this.#losses !== undefined && losses !== this.#losses;
      this.#losses = losses;
      if (now <= seen) {
        // Told to the others: the count is written after the loss, so it stays.
        this.#losses = await this.redis.incr(this.keys.wentBack);
        return this.#report(now, seen);
      }
      return heard && this.#report();
    } catch {
      return false;
    } finally {
      this.#ticking = false;
    }
  }

  #report(now?: number, seen?: number): boolean {
    const at = Date.now();
    const again = at - this.#reportedAt < SAME_LOSS_MS;
    this.#reportedAt = at;
    if (again) return false;
    this.wentBack(now, seen);
    return true;
  }
}

/**
 * Starts a role's ledger clock on a connection of its own: its ticks never wait behind the role's
 * ledger commands, nor hold them up (a write paused by Redis would queue everything after it).
 * Redis going away is reported by the role's own connection. `ready` resolves after the first
 * tick (answered, or failed: Redis away).
 */
export function startLedgerClock(
  redis: RedisClient,
  keys: { clock: string; wentBack: string },
  wentBack: (now?: number, seen?: number) => void,
): { stop: () => void; ready: Promise<void> } {
  const own = duplicateClient(redis);
  own.on('error', () => {});
  const clock = new LedgerClock(own, keys, wentBack);
  // The first tick is what later ones compare with: a loss before it is not this role's to see,
  // and one after it is, from the role's first command on (when the role waits for `ready`).
  const ready = clock.tick().then(() => {});
  clock.start();
  return {
    ready,
    stop: () => {
      clock.stop();
      own.disconnect();
    },
  };
}
