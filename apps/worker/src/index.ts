/**
 * The worker role: `runWorker(config)` connects to the ventilator and the sink, runs jobs until
 * SIGTERM, then drains. `Worker` is the role itself, for embedding.
 */
import { ConfigError, loadConfig, pathList, settingName, type ConfigOf } from '@jobpipe/config';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
import { startTracing, stopTracing } from '@jobpipe/observability';
import { startRole } from '@jobpipe/role-shell';
import { curveClientFrom, SocketSecurity } from '@jobpipe/transport';
import { workerSettings } from './settings.js';
import { Worker } from './worker.js';

export { workerSettings } from './settings.js';
export { Worker } from './worker.js';
export { compileWorkerOptions, withDefaults } from './worker-options.js';
export type { CompiledWorkerOptions, WorkerOptions, WorkerOptionsWithDefaults } from './worker-options.js';
export { CreditWindow } from './credit-window.js';
export { createExecutor } from './executor.js';

export type WorkerConfig = ConfigOf<typeof workerSettings>;

/** Starts a worker process from its configuration and runs it until a shutdown signal. */
export async function runWorker(config: WorkerConfig = loadConfig(workerSettings)): Promise<void> {
  // Checked before anything starts: half a key configuration is a one-line ConfigError (exit code 2).
  const security = SocketSecurity.forClient(curveClientFrom(config));
  // So is a credit in bytes that the largest message would never fit (PROTOCOL.md 4a).
  const { creditBytes, maxMessageBytes } = workerSettings;
  if (config.creditBytes !== undefined && config.creditBytes < config.maxMessageBytes)
    throw new ConfigError(
      creditBytes.env,
      creditBytes.flag,
      `invalid ${settingName(creditBytes)}: ${config.creditBytes} is below ${settingName(maxMessageBytes)} (${config.maxMessageBytes}): the largest message could never come`,
    );
  // Tracing, when OTEL_EXPORTER_OTLP_ENDPOINT asks for it (docs/architecture.md, "Tracing"): only
  // for spans a handler makes with the OpenTelemetry API; the handler spans go with the results.
  await startTracing('worker');
  await startRole({
    role: 'worker',
    config,
    metricsPortSetting: workerSettings.metricsPort,
    logBindings: { worker: config.workerId },
    // The worker's id on every series it reports: per-worker panels need it, and it is bounded.
    metricLabels: { worker: config.workerId },
    malformedReasons: MALFORMED_REASONS,
    stopGraceMs: config.drainTimeoutMs + 5000,
    build: ({ pipelines, logger, metrics }) => {
      // One Worker, and one session, per pipeline served: each with its own slots. Unset threads,
      // concurrency and timeout fall back to each pipeline's hints (worker-options.ts).
      const paths = pathList(config.pipeline);
      const workers = pipelines.map(
        (pipeline, i) =>
          new Worker({
            pipeline,
            pipelinePath: paths[i]!,
            threads: config.threads,
            concurrency: config.concurrency,
            timeoutMs: config.jobTimeoutMs,
            workerId: config.workerId,
            jobsConnect: config.jobsConnect,
            resultsConnect: config.resultsConnect,
            prefetchMs: config.prefetchMs,
            heartbeatMs: config.heartbeatMs,
            maxMessageBytes: config.maxMessageBytes,
            drainTimeoutMs: config.drainTimeoutMs,
            creditBytes: config.creditBytes,
            security,
            logger: pipelines.length > 1 ? logger.child({ pipeline: pipeline.name }) : logger,
            metrics,
          }),
      );
      return {
        workers,
        start: () => {
          for (const worker of workers) worker.start();
        },
        ready: () => workers.every((worker) => worker.ready),
        stop: async () => {
          await Promise.all(workers.map((worker) => worker.stop()));
          // Spans still buffered are exported before the process exits.
          await stopTracing();
        },
        endpoints: [
          [workerSettings.jobsConnect, config.jobsConnect],
          [workerSettings.resultsConnect, config.resultsConnect],
        ],
      };
    },
    readyFields: ({ workers }) => {
      const slots = Object.fromEntries(workers.map((worker) => [worker.options.pipeline.name, worker.options.concurrency]));
      const { threads, concurrency, timeoutMs } = workers[0]!.options;
      return workers.length === 1 ? { threads, concurrency, timeoutMs, curve: security.enabled } : { slots, curve: security.enabled };
    },
  });
}
