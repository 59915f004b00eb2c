import { common, integer, setting } from '@jobpipe/config';
import { curveClientSettings } from '@jobpipe/transport';
import { defaultWorkerId, workerId } from './worker-id.js';

const threads = (raw: string): number | 'auto' => (raw.trim() === 'auto' ? 'auto' : integer(0, 1024)(raw));

/** Everything a worker reads from env and flags. Unset hints fall back to the pipeline's, then to defaults. */
export const workerSettings = {
  pipeline: common.pipeline,
  jobsConnect: common.jobsConnect,
  resultsConnect: common.resultsConnect,
  // Not the host name alone: two workers started by hand on one host shared it.
  workerId: setting({
    env: 'JOBPIPE_WORKER_ID',
    flag: 'worker-id',
    parse: workerId,
    description:
      "worker: its id in metrics, logs and results; no two live workers should share one. By default the host name (in a container, the container's or pod's name) plus the pid, or the host name alone when the worker is PID 1 (a container's main process): stable for a container's life, distinct for each worker on a shared host",
    default: defaultWorkerId(),
    defaultText: '`<hostname>-<pid>`, `<hostname>` as PID 1',
  }),
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  logFormat: common.logFormat,
  maxMessageBytes: common.maxMessageBytes,
  ...curveClientSettings,
  heartbeatMs: common.heartbeatMs,
  concurrency: setting<number | undefined>({
    env: 'JOBPIPE_CONCURRENCY',
    flag: 'concurrency',
    description: 'handlers run at once',
    default: undefined,
    defaultText: "the pipeline's worker.concurrency, else the thread count, else 1",
    parse: integer(1, 100_000),
  }),
  threads: setting<number | 'auto' | undefined>({
    env: 'JOBPIPE_THREADS',
    flag: 'threads',
    description: "worker threads for CPU-bound handlers, or 'auto' for one per core; 0 runs handlers on the main thread",
    default: undefined,
    defaultText: "the pipeline's worker.threads, else 0",
    parse: threads,
  }),
  jobTimeoutMs: setting<number | undefined>({
    env: 'JOBPIPE_JOB_TIMEOUT_MS',
    flag: 'job-timeout-ms',
    description: 'a handler running longer fails with TimeoutError, in ms',
    default: undefined,
    defaultText: "the pipeline's worker.timeoutMs, else 300000",
    parse: integer(1, 86_400_000),
  }),
  prefetchMs: setting({
    env: 'JOBPIPE_PREFETCH_MS',
    flag: 'prefetch-ms',
    description: 'jobs a worker asks for beyond its free slots, as this many ms of its measured throughput',
    default: 50,
    parse: integer(0, 60_000),
  }),
  creditBytes: setting<number | undefined>({
    env: 'JOBPIPE_CREDIT_BYTES',
    flag: 'credit-bytes',
    description:
      'bytes of Jobs messages a worker holds at most (waiting, running, their results not yet sent, or granted and on the wire): its credit in bytes beside its credit in jobs; at least JOBPIPE_MAX_MESSAGE_BYTES, so the largest message always fits',
    default: undefined,
    defaultText: '32 MiB, or JOBPIPE_MAX_MESSAGE_BYTES when larger',
    parse: integer(1024, 2 ** 40),
  }),
  drainTimeoutMs: setting({
    env: 'JOBPIPE_DRAIN_TIMEOUT_MS',
    flag: 'drain-timeout-ms',
    description: 'on SIGTERM, how long to finish held jobs before giving up on them (their leases bring them back)',
    default: 25_000,
    parse: integer(0, 3_600_000),
  }),
};
