import { parsePrometheusText, sumBy, type Sample } from '@jobpipe/observability';

const total = (samples: Sample[], name: string): number => sumBy(samples, name).get('') ?? 0;

/** What `jobpipe top` shows, computed from two scrapes of every target. */
export interface TopView {
  at: number;
  targets: { url: string; ok: boolean }[];
  throughput: number;
  history: number[];
  inFlight: number;
  workersConnected: number;
  redelivered: number;
  deadLettered: number;
  batchesOpen: number;
  batchDone: number;
  batchExpected: number;
  etaSeconds: number | null;
  fairness: number | null;
  workers: { id: string; rate: number; busy: number; slots: number }[];
}

const HISTORY = 60;
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

/** Scrapes the targets each `tick()` and turns counters into rates. */
export class TopModel {
  #previous: { at: number; recordedByWorker: Map<string, number> } | undefined;
  readonly #history: number[] = [];
  readonly #progress = new ProgressRate();

  constructor(
    readonly targets: string[],
    private readonly fetchText: (url: string) => Promise<string> = defaultFetch,
  ) {}

  async tick(now = Date.now()): Promise<TopView> {
    const pages = await Promise.all(
      this.targets.map((url) =>
        this.fetchText(url).then(
          (text) => ({ url, samples: parsePrometheusText(text) }),
          () => ({ url, samples: undefined }),
        ),
      ),
    );
    const samples: Sample[] = pages.flatMap((page) => page.samples ?? []);
    const recordedByWorker = sumBy(samples, 'jobpipe_jobs_completed_total', 'worker');
    for (const [worker, failed] of sumBy(samples, 'jobpipe_jobs_failed_total', 'worker'))
      recordedByWorker.set(worker, (recordedByWorker.get(worker) ?? 0) + failed);
    const busy = sumBy(samples, 'jobpipe_worker_jobs_active', 'worker');
    const slots = sumBy(samples, 'jobpipe_worker_slots', 'worker');

    const rates = new Map<string, number>();
    const previous = this.#previous;
    for (const [worker, count] of recordedByWorker) {
      const before = previous?.recordedByWorker.get(worker);
      const seconds = previous ? (now - previous.at) / 1000 : 0;
      rates.set(worker, before === undefined || seconds <= 0 ? 0 : Math.max(0, count - before) / seconds);
    }
    this.#previous = { at: now, recordedByWorker };
    const throughput = [...rates.values()].reduce((a, b) => a + b, 0);
    this.#history.push(throughput);
    if (this.#history.length > HISTORY) this.#history.shift();

    const ids = new Set([...recordedByWorker.keys(), ...busy.keys()].filter((id) => id !== '' && id !== 'ventilator'));
    const workers = [...ids].sort().map((id) => ({ id, rate: rates.get(id) ?? 0, busy: busy.get(id) ?? 0, slots: slots.get(id) ?? 0 }));
    const batchDone = total(samples, 'jobpipe_batch_jobs_done');
    const batchExpected = total(samples, 'jobpipe_batch_jobs_expected');
    const doneRate = this.#progress.add(now, batchDone);
    return {
      at: now,
      targets: pages.map((page) => ({ url: page.url, ok: page.samples !== undefined })),
      throughput,
      history: [...this.#history],
      inFlight: total(samples, 'jobpipe_jobs_inflight'),
      workersConnected: total(samples, 'jobpipe_workers_connected'),
      redelivered: total(samples, 'jobpipe_jobs_redelivered_total'),
      deadLettered: total(samples, 'jobpipe_jobs_dead_lettered_total'),
      batchesOpen: total(samples, 'jobpipe_batches_open'),
      batchDone,
      batchExpected,
      etaSeconds: etaSeconds(batchExpected - batchDone, doneRate),
      fairness: jainIndex(workers.map((worker) => worker.rate)),
      workers,
    };
  }
}

/** Jain's fairness index: 1 when all shares are equal, 1/n when one takes everything; null when idle. */
export function jainIndex(shares: number[]): number | null {
  const sum = shares.reduce((a, b) => a + b, 0);
  const squares = shares.reduce((a, b) => a + b * b, 0);
  return shares.length === 0 || squares === 0 ? null : (sum * sum) / (shares.length * squares);
}

async function defaultFetch(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(800) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}
