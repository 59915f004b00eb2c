/** Rates over time, shared by `jobpipe top` and the console: a batch's progress rate, its ETA, and the balance of workers. */

/** The ETA's rate is the batch's progress over this long, not over the last interval alone. */
export const ETA_WINDOW_MS = 30_000;

/**
 * The rate at which jobs get done, fitted to the progress samples of a sliding window: steady
 * where the rate of one interval jumps (results arrive in packs, workers' rates wobble), and
 * following a real change (a worker added or lost) within the window. A fall in the count (a
 * batch closed, the sink not answering) starts the window again.
 */
export class ProgressRate {
  readonly #samples: { at: number; done: number }[] = [];

  constructor(readonly windowMs = ETA_WINDOW_MS) {}

  /** Adds a sample and returns the jobs/s over the window, or null until two samples span some time. */
  add(at: number, done: number): number | null {
    const last = this.#samples.at(-1);
    if (last && (done < last.done || at <= last.at)) this.#samples.length = 0;
    this.#samples.push({ at, done });
    while (this.#samples.length > 2 && this.#samples[1]!.at <= at - this.windowMs) this.#samples.shift();
    if (this.#samples.length < 2) return null;
    // The least-squares slope of done over time: every sample counts, not just the two ends, so a
    // pack of results landing just inside or just outside the window moves it little.
    const n = this.#samples.length;
    const meanAt = this.#samples.reduce((sum, sample) => sum + sample.at, 0) / n;
    const meanDone = this.#samples.reduce((sum, sample) => sum + sample.done, 0) / n;
    let covariance = 0;
    let variance = 0;
    for (const sample of this.#samples) {
      covariance += (sample.at - meanAt) * (sample.done - meanDone);
      variance += (sample.at - meanAt) ** 2;
    }
    return (covariance / variance) * 1000;
  }
}

/** Seconds until `remaining` jobs are done at `rate` jobs/s; null when nothing remains or nothing moves. */
export function etaSeconds(remaining: number, rate: number | null): number | null {
  return remaining > 0 && rate !== null && rate > 0 ? remaining / rate : null;
}

/** Jain's fairness index: 1 when all shares are equal, 1/n when one takes everything; null when idle. */
export function jainIndex(shares: number[]): number | null {
  const sum = shares.reduce((a, b) => a + b, 0);
  const squares = shares.reduce((a, b) => a + b * b, 0);
  return shares.length === 0 || squares === 0 ? null : (sum * sum) / (shares.length * squares);
}
