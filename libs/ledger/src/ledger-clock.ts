/** How often a role moves the clock, in ms: a loss of more than this of Redis's writes is noticed. */
export const CLOCK_TICK_MS = 500;

/**
 * Notices that Redis went back in time: a failover to a replica that lagged, a restart from an
 * older snapshot, an AOF fsync'd once a second after a host crash. Every durable role INCRs one
 * counter every CLOCK_TICK_MS and keeps the highest value it got; a later INCR that answers no
 * more than that means some of this process's increments (and whatever else Redis acknowledged
 * in that time) are gone. It catches a loss that spans one of this process's ticks; a shorter
 * one may pass unseen here, and is caught per batch (the ventilator's BatchRepair, the sink's
 * fold against its counts). Redis restarting with everything kept (AOF always, a replica in
 * sync) moves the clock on, and is not reported.
 */
export class LedgerClock {
  #highest = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;

  constructor(
    private readonly redis: { incr(key: string): Promise<number> },
    private readonly key: string,
    /** Called with the clock as Redis has it and the highest value this process had seen. */
    private readonly wentBack: (now: number, seen: number) => void,
  ) {}

  start(everyMs = CLOCK_TICK_MS): void {
    this.#timer ??= setInterval(() => void this.tick(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One tick; true when it found Redis behind. Errors (Redis away) wait for the next tick. */
  async tick(): Promise<boolean> {
    if (this.#ticking) return false;
    this.#ticking = true;
    try {
      const now = await this.redis.incr(this.key);
      const seen = this.#highest;
      this.#highest = now;
      if (now > seen) return false;
      this.wentBack(now, seen);
      return true;
    } catch {
      return false;
    } finally {
      this.#ticking = false;
    }
  }
}
