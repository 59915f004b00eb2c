/**
 * Deadlines for running jobs, checked by one timer instead of one timer per job. Entries expire in
 * the order they were added (one timeout for all), so a check stops at the first live entry.
 */
export class Deadlines {
  #entries = new Set<{ at: number; expire: () => void }>();
  #timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    checkEveryMs = Math.max(10, Math.min(250, timeoutMs / 4)),
  ) {
    this.#timer = setInterval(() => this.check(Date.now()), checkEveryMs);
    this.#timer.unref();
  }

  /** Calls `expire` once the timeout has passed, unless the returned function is called first. */
  add(expire: () => void): () => void {
    const entry = { at: Date.now() + this.timeoutMs, expire };
    this.#entries.add(entry);
    return () => this.#entries.delete(entry);
  }

  check(now: number): void {
    for (const entry of this.#entries) {
      if (entry.at > now) break;
      this.#entries.delete(entry);
      entry.expire();
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#entries.clear();
  }
}
