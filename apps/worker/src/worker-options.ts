import { checkOptions, defaultsOf, definedOnly, OptionError } from '@jobpipe/config';
import { createLogger, Metrics, type Logger } from '@jobpipe/observability';
import type { Pipeline } from '@jobpipe/pipeline';
import { SocketSecurity } from '@jobpipe/transport';
import { createExecutor, resolveThreads, type Executor } from './executor.js';
import { workerSettings as s } from './settings.js';

/** A handler's deadline when neither the option nor the pipeline's `worker.timeoutMs` sets one. */
const DEFAULT_TIMEOUT_MS = 300_000;

/** Results packed into one Results message at most. */
const MAX_RESULTS_PER_MESSAGE = 500;

/**
 * A worker's credit in bytes when none is given: a few hundred jobs of 100 KB keep it busy, and
 * it stays well under 256 MB whatever the payload size (docs/benchmarks.md, memory).
 */
const DEFAULT_CREDIT_BYTES = 32 * 1024 * 1024;

/**
 * What an embedder gives `new Worker(...)`: only the pipeline is required. The other defaults are
 * the settings' (settings.ts), and where a setting defers to the pipeline (threads, concurrency,
 * timeout) so does the option, so a worker built in code behaves as `jobpipe worker` with nothing
 * set; `runWorker` passes the parsed settings in.
 */
export interface WorkerOptions {
  /** The pipeline whose jobs it runs. */
  pipeline: Pipeline;
  /** The pipeline module's path: worker threads load it (threads > 0 needs it). */
  pipelinePath?: string;
  /** Runs the handlers. @default one made from pipeline, threads and timeoutMs; the worker closes it on stop */
  executor?: Executor;
  /** Worker threads for handlers, or 'auto' for one per core; 0 runs them on the main thread. @default the pipeline's worker.threads, else 0 (JOBPIPE_THREADS) */
  threads?: number | 'auto';
  /** Handlers run at once. @default the pipeline's worker.concurrency, else the thread count, else 1 (JOBPIPE_CONCURRENCY) */
  concurrency?: number;
  /** A handler running longer fails with TimeoutError, in ms. @default the pipeline's worker.timeoutMs, else 300000 (JOBPIPE_JOB_TIMEOUT_MS) */
  timeoutMs?: number;
  /** Its id in metrics, logs and results. @default `<hostname>-<pid>` (JOBPIPE_WORKER_ID) */
  workerId?: string;
  /** The ventilator's jobs endpoint. @default 'tcp://127.0.0.1:5557' (JOBPIPE_JOBS_CONNECT) */
  jobsConnect?: string;
  /** The sink's results endpoint. @default 'tcp://127.0.0.1:5558' (JOBPIPE_RESULTS_CONNECT) */
  resultsConnect?: string;
  /** Jobs asked for beyond free slots, as this many ms of measured throughput. @default 50 (JOBPIPE_PREFETCH_MS) */
  prefetchMs?: number;
  /** Heartbeat interval in ms. @default 1000 (JOBPIPE_HEARTBEAT_MS) */
  heartbeatMs?: number;
  /** Largest message, header included, in bytes. @default 4194304 (JOBPIPE_MAX_MESSAGE_BYTES) */
  maxMessageBytes?: number;
  /**
   * Bytes of Jobs messages held at most, granted and on the wire included (PROTOCOL.md 4a); at
   * least maxMessageBytes. @default 32 MiB, or maxMessageBytes when larger (JOBPIPE_CREDIT_BYTES)
   */
  creditBytes?: number;
  /** On stop, how long to finish held jobs, in ms. @default 25000 (JOBPIPE_DRAIN_TIMEOUT_MS) */
  drainTimeoutMs?: number;
  /** CURVE keys. @default plain sockets */
  security?: SocketSecurity;
  /** @default a silent logger */
  logger?: Logger;
  /** @default a registry of its own, without the process metrics */
  metrics?: Metrics;
}

/** Every option given, defaults filled in: threads as a count, the executor still optional (made once checked). */
export type WorkerOptionsWithDefaults = Required<Omit<WorkerOptions, 'executor' | 'pipelinePath' | 'threads'>> &
  Pick<WorkerOptions, 'executor' | 'pipelinePath'> & { threads: number };

/** The checked options, with the executor made; the worker reads only these. */
export interface CompiledWorkerOptions extends Readonly<Omit<WorkerOptionsWithDefaults, 'executor'>> {
  readonly executor: Executor;
  /** Results packed into one Results message at most. */
  readonly maxResultsPerMessage: number;
  /** Labels of this worker's metrics. */
  readonly labels: { readonly pipeline: string };
}

/** The options a CLI setting feeds with a default of its own: defaults and checks are the settings'. */
const { workerId, jobsConnect, resultsConnect, prefetchMs, heartbeatMs, maxMessageBytes, drainTimeoutMs } = s;
const RULES = { workerId, jobsConnect, resultsConnect, prefetchMs, heartbeatMs, maxMessageBytes, drainTimeoutMs };

/** Fills in the defaults: the option, else the pipeline's hint, else the setting's default. */
export function withDefaults(options: WorkerOptions): WorkerOptionsWithDefaults {
  const given = definedOnly(options);
  const hints = options.pipeline?.worker ?? {};
  const threads = resolveThreads(given.threads ?? hints.threads ?? 0);
  return {
    ...defaultsOf(RULES),
    ...given,
    pipeline: options.pipeline,
    threads,
    concurrency: given.concurrency ?? hints.concurrency ?? Math.max(1, threads),
    timeoutMs: given.timeoutMs ?? hints.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    creditBytes: given.creditBytes ?? Math.max(DEFAULT_CREDIT_BYTES, given.maxMessageBytes ?? defaultsOf(RULES).maxMessageBytes),
    security: given.security ?? SocketSecurity.plain(),
    logger: given.logger ?? createLogger('worker', 'silent'),
    metrics: given.metrics ?? new Metrics({ defaultMetrics: false }),
  };
}

/**
 * Fills in the defaults, checks every value against its setting's rule (an OptionError naming
 * the option), and only then makes the executor, so a refused option leaves no thread pool behind.
 */
export function compileWorkerOptions(options: WorkerOptions): CompiledWorkerOptions {
  const o = withDefaults(options);
  if (typeof o.pipeline?.work !== 'function') throw new OptionError('worker', 'pipeline', 'not a pipeline (definePipeline(...))', s.pipeline);
  checkOptions('worker', o, {
    ...RULES,
    // These settings default to the pipeline's hints; the value here is resolved, so always a number.
    threads: { ...s.threads, default: 0 },
    concurrency: { ...s.concurrency, default: 1 },
    timeoutMs: { ...s.jobTimeoutMs, default: DEFAULT_TIMEOUT_MS },
    creditBytes: { ...s.creditBytes, default: DEFAULT_CREDIT_BYTES },
  });
  // A worker holding nothing must always be able to take the largest message (PROTOCOL.md 4a).
  if (o.creditBytes < o.maxMessageBytes)
    throw new OptionError(
      'worker',
      'creditBytes',
      `${o.creditBytes} is below maxMessageBytes (${o.maxMessageBytes}): the largest message could never come`,
      s.creditBytes,
    );
  if (o.threads > 0 && o.executor === undefined && o.pipelinePath === undefined)
    throw new OptionError('worker', 'pipelinePath', 'worker threads load the pipeline module from its path: give pipelinePath, or threads: 0');
  const executor =
    o.executor ??
    createExecutor({ pipeline: o.pipeline, pipelinePath: o.pipelinePath ?? '', threads: o.threads, timeoutMs: o.timeoutMs, workerId: o.workerId });
  return { ...o, executor, maxResultsPerMessage: MAX_RESULTS_PER_MESSAGE, labels: { pipeline: o.pipeline.name } };
}
