/**
 * Lets through at most `perInterval` log lines per key in each interval, so a flood of bad
 * messages from a rogue peer is counted in full by the metrics but cannot flood the log (a
 * synchronous stdout under pressure would slow the process down too). The first line after a
 * quiet spell says how many were left out.
 */
export class LogLimiter {
  readonly #windows = new Map<string, { startedAt: number; logged: number; suppressed: number }>();

  constructor(
    private readonly perInterval = 10,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Undefined when this line is to be left out; otherwise how many of its kind were left out before it. */
  allow(key: string): { suppressed: number } | undefined {
    const now = this.now();
    let window = this.#windows.get(key);
    if (!window || now - window.startedAt >= this.intervalMs) {
      const suppressed = window?.suppressed ?? 0;
      // Keys are a handful of reasons, but bounded anyway in case a caller keys by something wider.
      if (!window && this.#windows.size >= 1000) this.#windows.clear();
      window = { startedAt: now, logged: 0, suppressed: 0 };
      this.#windows.set(key, window);
      window.logged++;
      return { suppressed };
    }
    if (window.logged >= this.perInterval) {
      window.suppressed++;
      return undefined;
    }
    window.logged++;
    return { suppressed: 0 };
  }
}

/** A line's count of lines of its kind left out before it (LogLimiter.allow), as a field when there were any. */
export function leftOut({ suppressed }: { suppressed: number }): { suppressed?: number } {
  return suppressed > 0 ? { suppressed } : {};
}
