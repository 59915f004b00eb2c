/**
 * The worker role: `runWorker(config)` connects to the ventilator and the sink, runs jobs until
 * SIGTERM, then drains. `Worker` is the role itself, for embedding.
 */
import { ConfigError, loadConfig, settingName, type ConfigOf } from '@jobpipe/config';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
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
  await startRole({
    role: 'worker',
    config,
    metricsPortSetting: workerSettings.metricsPort,
    logBindings: { worker: config.workerId },
    // The worker's id on every series it reports: per-worker panels need it, and it is bounded.
    metricLabels: { worker: config.workerId },
    malformedReasons: MALFORMED_REASONS,
    stopGraceMs: config.drainTimeoutMs + 5000,
    build: ({ pipeline, logger, metrics }) => {
      // Unset threads, concurrency and timeout fall back to the pipeline's hints (worker-options.ts).
      const worker = new Worker({
        pipeline,
        pipelinePath: config.pipeline,
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
        logger,
        metrics,
      });
      return {
        worker,
        start: () => worker.start(),
        ready: () => worker.ready,
        stop: () => worker.stop(),
        endpoints: [
          [workerSettings.jobsConnect, config.jobsConnect],
          [workerSettings.resultsConnect, config.resultsConnect],
        ],
      };
    },
    readyFields: ({ worker }) => {
      const { threads, concurrency, timeoutMs } = worker.options;
      return { threads, concurrency, timeoutMs, curve: security.enabled };
    },
  });
}
