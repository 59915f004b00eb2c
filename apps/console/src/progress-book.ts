import { ProgressRate } from '@jobpipe/observability';

/** Points of a batch's history kept: at one every HISTORY_STEP_MS, 20 minutes of progress. */
const HISTORY_POINTS = 600;
const HISTORY_STEP_MS = 2000;
/** Batches followed at once; the oldest heard of goes first. */
const MAX_BATCHES = 2000;

interface Followed {
  history: { at: number; done: number }[];
  rate: ProgressRate;
  lastRate: number | null;
}

/**
 * Each batch's progress over time as the sink's events told it, for the batch page's chart and
 * for the rate and ETA of the batch lists. Kept in the console's memory: a console started late
 * draws from then on.
 */
export class ProgressBook {
  readonly #batches = new Map<string, Followed>();

  add(batch: string, done: number, at = Date.now()): void {
    let followed = this.#batches.get(batch);
    if (followed) this.#batches.delete(batch);
    else followed = { history: [], rate: new ProgressRate(), lastRate: null };
    this.#batches.set(batch, followed);
    if (this.#batches.size > MAX_BATCHES) this.#batches.delete(this.#batches.keys().next().value!);
    followed.lastRate = followed.rate.add(at, done);
    const last = followed.history.at(-1);
    if (last && at - last.at < HISTORY_STEP_MS && followed.history.length > 1) {
      // Within a step: the newest point moves forward, the chart stays light.
      followed.history[followed.history.length - 1] = { at, done };
      return;
    }
    followed.history.push({ at, done });
    if (followed.history.length > HISTORY_POINTS) followed.history.shift();
  }

  /** Jobs/s over the last 30 s of progress; null when it was not followed long enough. */
  rate(batch: string): number | null {
    const rate = this.#batches.get(batch)?.lastRate ?? null;
    return rate === null ? null : Math.max(0, rate);
  }

  history(batch: string): { at: number; done: number }[] {
    return [...(this.#batches.get(batch)?.history ?? [])];
  }
}
