/**
 * How many jobs a worker asks the ventilator for. It holds at most `concurrency + prefetch` jobs
 * (running, waiting, or granted and still on the wire). The prefetch is `prefetchMs` worth of the
 * worker's measured throughput: a fast worker keeps a deep pipe (big packed messages, no idle
 * gaps), a slow one holds only a job or two, so it cannot hoard work that faster workers would
 * finish sooner. This is the ZeroMQ guide's credit-based flow control with an adaptive window.
 */
/** Jobs finished before a fresh worker estimates its rate without waiting for a sample. */
const EARLY_ESTIMATE_JOBS = 16;

export class CreditWindow {
  /** Cumulative credit granted to the ventilator. */
  granted = 0;
  /** Cumulative jobs received. `granted - received` are jobs owed by the ventilator. */
  received = 0;
  #ratePerSecond = 0;
  #completedSinceSample = 0;
  #lastSampleAt: number;
  /** While no rate is known: when the first job finished, to estimate one early. */
  #firstCompletionAt: number | undefined;

  constructor(
    readonly concurrency: number,
    private readonly prefetchMs: number,
    private readonly maxPrefetch = 2000,
    now = Date.now(),
  ) {
    this.#lastSampleAt = now;
  }

  /** Jobs to ask for beyond the free slots. */
  get prefetch(): number {
    const measured = Math.ceil((this.#ratePerSecond * this.prefetchMs) / 1000);
    return Math.min(this.maxPrefetch, Math.max(1, measured));
  }

  get ratePerSecond(): number {
    return this.#ratePerSecond;
  }

  completed(count = 1, now = performance.now() + performance.timeOrigin): void {
    this.#completedSinceSample += count;
    if (this.#ratePerSecond > 0) {
      // A rate well above the estimate is taken at once, not at the next sample: the first
      // estimate comes from jobs run on a cold process, and a window sized on it (a few jobs)
      // held a fresh worker at a tenth of its speed for the first 100 ms or more.
      const elapsed = now - this.#lastSampleAt;
      if (this.#completedSinceSample < EARLY_ESTIMATE_JOBS || elapsed < 1) return;
      const rate = (this.#completedSinceSample * 1000) / elapsed;
      if (rate < 2 * this.#ratePerSecond) return;
      this.#ratePerSecond = rate;
      this.#completedSinceSample = 0;
      this.#lastSampleAt = now;
      return;
    }
    // No rate yet: estimate one after the first few jobs instead of waiting for the next 100 ms
    // sample, so a fresh worker's window opens in milliseconds (short batches ramped up slowly).
    this.#firstCompletionAt ??= now;
    const elapsed = now - this.#firstCompletionAt;
    if (this.#completedSinceSample >= EARLY_ESTIMATE_JOBS && elapsed >= 1) {
      this.#ratePerSecond = (this.#completedSinceSample * 1000) / elapsed;
    }
  }

  /** Updates the throughput estimate; call it every ~100 ms. Idle periods leave it as it was. */
  sample(now = Date.now()): void {
    const elapsed = now - this.#lastSampleAt;
    if (elapsed <= 0) return;
    if (this.#completedSinceSample > 0) {
      const rate = (this.#completedSinceSample * 1000) / elapsed;
      // Rising fast and falling slowly keeps a fast worker's pipe full through short stalls.
      this.#ratePerSecond = rate > this.#ratePerSecond ? rate : 0.7 * this.#ratePerSecond + 0.3 * rate;
    }
    this.#completedSinceSample = 0;
    this.#lastSampleAt = now;
  }

  /**
   * Takes back the credit an idle worker granted beyond its slots and one job, and forgets its
   * rate: granted while its jobs were fast, that credit would let the ventilator send it the first
   * jobs of a slow batch all at once, to wait here past their leases while other workers idle
   * (PROTOCOL.md section 4, worker rule 6). The window opens again from what the next jobs
   * measure. True when there was credit to take back.
   */
  takeBack(): boolean {
    const floor = this.received + this.concurrency + 1;
    if (this.granted <= floor) return false;
    this.granted = floor;
    this.#ratePerSecond = 0;
    this.#completedSinceSample = 0;
    this.#firstCompletionAt = undefined;
    return true;
  }

  /**
   * Credit to grant now, given the jobs held locally (running plus waiting), or 0. Small grants
   * are held back until they are worth a message, except when the worker would otherwise idle.
   */
  toGrant(held: number): number {
    const owed = this.granted - this.received;
    const want = this.concurrency + this.prefetch - held - owed;
    if (want <= 0) return 0;
    const worthAMessage = Math.max(1, Math.floor(this.prefetch / 4));
    if (want < worthAMessage && held + owed > 0) return 0;
    this.granted += want;
    return want;
  }
}
