/**
 * The worker role: `runWorker(config)` connects to the ventilator and the sink, runs jobs until
 * SIGTERM, then drains. `Worker` is the role itself, for embedding.
 */
import { addressError, loadConfig, type ConfigOf } from '@jobpipe/config';
import { loadPipeline } from '@jobpipe/pipeline';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
import { createLogger, exitOnSignals, Metrics, startHealthServer } from '@jobpipe/observability';
import { createExecutor, resolveThreads } from './executor.js';
import { workerSettings } from './settings.js';
import { Worker } from './worker.js';
import { curveClientFrom, endpointError, SocketSecurity } from '@jobpipe/transport';

export { workerSettings } from './settings.js';
export { Worker } from './worker.js';
export type { WorkerOptions } from './worker.js';
export { CreditWindow } from './credit-window.js';
export { createExecutor } from './executor.js';

export type WorkerConfig = ConfigOf<typeof workerSettings>;
const DEFAULT_TIMEOUT_MS = 300_000;

/** Starts a worker process from its configuration and runs it until a shutdown signal. */
export async function runWorker(config: WorkerConfig = loadConfig(workerSettings)): Promise<void> {
  // Checked before anything starts: half a key configuration is a one-line ConfigError (exit code 2).
  const security = SocketSecurity.forClient(curveClientFrom(config));
  const logger = createLogger('worker', config.logLevel, { worker: config.workerId }, config.logFormat);
  const pipeline = await loadPipeline(config.pipeline);
  const hints = pipeline.worker ?? {};
  const threads = resolveThreads(config.threads ?? hints.threads ?? 0);
  const concurrency = config.concurrency ?? hints.concurrency ?? Math.max(1, threads);
  const timeoutMs = config.jobTimeoutMs ?? hints.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const metrics = new Metrics();
  // The worker's id on every series it reports: per-worker panels need it, and it is bounded.
  metrics.registry.setDefaultLabels({ worker: config.workerId });
  metrics.initialize('worker', pipeline.name, MALFORMED_REASONS);
  const executor = createExecutor({ pipeline, pipelinePath: config.pipeline, threads, timeoutMs, workerId: config.workerId });
  const worker = new Worker({
    pipeline,
    executor,
    workerId: config.workerId,
    jobsConnect: config.jobsConnect,
    resultsConnect: config.resultsConnect,
    concurrency,
    prefetchMs: config.prefetchMs,
    heartbeatMs: config.heartbeatMs,
    maxMessageBytes: config.maxMessageBytes,
    drainTimeoutMs: config.drainTimeoutMs,
    security,
    logger,
    metrics,
  });
  const health = await startHealthServer({ port: config.metricsPort, registry: metrics.registry, ready: () => worker.ready }).catch((error: unknown) => {
    throw addressError(error, workerSettings.metricsPort, `port ${config.metricsPort}`) ?? error;
  });
  try {
    worker.start();
  } catch (error) {
    throw endpointError(error, [
      [workerSettings.jobsConnect, config.jobsConnect],
      [workerSettings.resultsConnect, config.resultsConnect],
    ]);
  }
  logger.info({ pipeline: pipeline.name, threads, concurrency, timeoutMs, metricsPort: health.port, curve: security.enabled }, 'ready');
  exitOnSignals(
    async () => {
      await worker.stop();
      await health.close();
    },
    logger,
    config.drainTimeoutMs + 5000,
  );
}
