import { etaSeconds, jainIndex, parsePrometheusText, ProgressRate, sumBy, type Sample } from '@jobpipe/observability';

export { ETA_WINDOW_MS, etaSeconds, jainIndex, ProgressRate } from '@jobpipe/observability';

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

async function defaultFetch(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(800) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}
