import type { BatchStatusReport, IntakeState, JobpipeClient } from '@jobpipe/intake';
import { readWorkerBoards, type BoardWorker, type WorkerBoard } from '@jobpipe/ledger';
import { jainIndex } from '@jobpipe/observability';
import type { ProgressBook } from './progress-book.js';

/** A ventilator's board is counted while younger than this (they publish every second). */
const BOARD_FRESH_MS = 5000;

export type BatchState = BatchStatusReport['state'];

export interface BatchStatus extends BatchStatusReport {
  jobsPerSecond: number | null;
  etaSeconds: number | null;
}

/** A worker session as a ventilator's board has it, with the pipeline and the ventilator it serves. */
export interface WorkerView extends BoardWorker {
  pipeline: string;
  ventilator: string;
}

export interface PipelineView {
  name: string;
  accepting: boolean;
  paused: boolean;
  rateLimit: number | null;
  queue: { waiting: number; active: number; prioritized: number; delayed: number; completed: number; failed: number };
  jobsWaiting: number;
  inFlight: number;
  workers: number;
  jobsPerSecond: number;
}

/** BullMQ's states of an intake job, for each state a batch can be in (listing by state reads only those). */
const QUEUE_STATES: Record<BatchState, IntakeState[]> = {
  queued: ['wait', 'prioritized', 'delayed'],
  running: ['active'],
  done: ['completed', 'active'],
  failed: ['failed'],
};
const ALL_STATES: IntakeState[] = ['wait', 'prioritized', 'delayed', 'active', 'completed', 'failed'];

/** What the API answers, read from Redis (one read for every browser: the event stream shares them). */
export class Views {
  constructor(
    private readonly client: JobpipeClient,
    /** The pipelines the console has modules of: it takes batches and jobs for these. */
    private readonly accepting: ReadonlySet<string>,
    private readonly progress: ProgressBook,
  ) {}

  /** Every pipeline known to Redis (submitted to, or served by a ventilator) and every one the console has. */
  async pipelineNames(): Promise<string[]> {
    const known = await this.client.redis.smembers(this.client.ledger.keys.pipelines);
    return [...new Set([...this.accepting, ...known])].sort();
  }

  /** The ventilators' boards of the last few seconds: where workers and their load come from. */
  #boards(): Promise<WorkerBoard[]> {
    return readWorkerBoards(this.client.redis, this.client.ledger.keys, BOARD_FRESH_MS);
  }

  async workers(boards?: WorkerBoard[]): Promise<{ workers: WorkerView[]; balance: number | null }> {
    const workers: WorkerView[] = [];
    for (const board of boards ?? (await this.#boards()))
      for (const [pipeline, lane] of Object.entries(board.pipelines))
        for (const worker of lane.workers) workers.push({ ...worker, pipeline, ventilator: board.ventilator });
    workers.sort((a, b) => a.pipeline.localeCompare(b.pipeline) || a.id.localeCompare(b.id));
    return { workers, balance: jainIndex(workers.map((worker) => worker.jobsPerSecond)) };
  }

  async pipelines(boards?: WorkerBoard[]): Promise<PipelineView[]> {
    const [names, read] = await Promise.all([this.pipelineNames(), boards ?? this.#boards()]);
    return Promise.all(names.map((name) => this.#pipeline(name, read)));
  }

  /** The workers and the pipelines from one read of the boards (what the event stream sends every few seconds). */
  async lists(): Promise<{ workers: Awaited<ReturnType<Views['workers']>>; pipelines: PipelineView[] }> {
    const boards = await this.#boards();
    const [workers, pipelines] = await Promise.all([this.workers(boards), this.pipelines(boards)]);
    return { workers, pipelines };
  }

  async pipeline(name: string): Promise<PipelineView | undefined> {
    if (!(await this.pipelineNames()).includes(name)) return undefined;
    return this.#pipeline(name, await this.#boards());
  }

  async #pipeline(name: string, boards: WorkerBoard[]): Promise<PipelineView> {
    const [counts, controls] = await Promise.all([
      this.client.queue(name).getJobCounts('waiting', 'active', 'prioritized', 'delayed', 'completed', 'failed'),
      this.client.controls(name),
    ]);
    let jobsWaiting = 0;
    let inFlight = 0;
    let workers = 0;
    let jobsPerSecond = 0;
    for (const board of boards) {
      const lane = board.pipelines[name];
      if (!lane) continue;
      jobsWaiting += lane.jobsWaiting;
      inFlight += lane.inFlight;
      workers += lane.workers.length;
      for (const worker of lane.workers) jobsPerSecond += worker.jobsPerSecond;
    }
    return {
      name,
      accepting: this.accepting.has(name),
      paused: controls.paused,
      rateLimit: controls.rateLimit ?? null,
      queue: {
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        prioritized: counts.prioritized ?? 0,
        delayed: counts.delayed ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
      },
      jobsWaiting,
      inFlight,
      workers,
      jobsPerSecond: Math.round(jobsPerSecond * 10) / 10,
    };
  }

  /** A batch's status with the rate and ETA the console measured from the sink's events. */
  async batch(batchId: string): Promise<BatchStatus | undefined> {
    const report = await this.client.find(batchId);
    return report && this.withRate(report);
  }

  withRate(report: BatchStatusReport): BatchStatus {
    // A done batch's rate is its summary's (over its whole run); a running one's, the last 30 s of its events.
    const rate = report.state === 'running' ? this.progress.rate(report.batch) : report.state === 'done' ? (report.summary?.jobsPerSecond ?? null) : null;
    const remaining = report.total === null ? null : report.total - report.done;
    return {
      ...report,
      jobsPerSecond: rate === null ? null : Math.round(rate * 10) / 10,
      etaSeconds: rate !== null && rate > 0 && remaining !== null && remaining > 0 ? Math.round((remaining / rate) * 10) / 10 : null,
    };
  }

  /** The newest batches, newest first, of one pipeline or all, in one state or any. */
  async batches(options: { pipeline?: string; state?: BatchState; limit: number }): Promise<BatchStatus[]> {
    const pipelines = options.pipeline ? [options.pipeline] : await this.pipelineNames();
    const states = options.state ? QUEUE_STATES[options.state] : ALL_STATES;
    // The pipelines' lists read at once, not one after another.
    const lists = await Promise.all(pipelines.map((pipeline) => this.client.listOf(pipeline, states, options.limit)));
    return lists
      .flat()
      .filter((report) => !options.state || report.state === options.state)
      .sort((a, b) => (b.submittedAt ?? 0) - (a.submittedAt ?? 0))
      .slice(0, options.limit)
      .map((report) => this.withRate(report));
  }
}
