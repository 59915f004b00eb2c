/**
 * The ventilator role: `runVentilator(config)` binds for workers and runs batches until SIGTERM.
 * `Ventilator` is the role itself, for embedding.
 */
import { loadConfig, type ConfigOf } from '@jobpipe/config';
import { loadPipeline } from '@jobpipe/pipeline';
import { createLogger, exitOnSignals, Metrics, startHealthServer } from '@jobpipe/observability';
import { ventilatorSettings } from './settings.js';
import { Ventilator } from './ventilator.js';

export { ventilatorSettings } from './settings.js';
export { Ventilator, newBatchId } from './ventilator.js';
export type { VentilatorOptions } from './ventilator.js';

export type VentilatorConfig = ConfigOf<typeof ventilatorSettings>;

/** Starts a ventilator process from its configuration and runs it until a shutdown signal. */
export async function runVentilator(config: VentilatorConfig = loadConfig(ventilatorSettings)): Promise<void> {
  const logger = createLogger('ventilator', config.logLevel);
  const pipeline = await loadPipeline(config.pipeline);
  const metrics = new Metrics();
  const ventilator = new Ventilator({
    pipeline,
    jobsBind: config.jobsBind,
    resultsConnect: config.resultsConnect,
    eventsConnect: config.eventsConnect,
    maxInFlight: config.maxInFlight,
    maxJobsPerMessage: config.maxJobsPerMessage,
    leaseMs: config.leaseMs,
    maxAttempts: config.maxAttempts,
    heartbeatMs: config.heartbeatMs,
    maxMessageBytes: config.maxMessageBytes,
    logger,
    metrics,
  });
  await ventilator.start();
  const health = await startHealthServer({ port: config.metricsPort, registry: metrics.registry, ready: () => ventilator.ready });
  logger.info({ pipeline: pipeline.name, metricsPort: health.port }, 'ready');
  exitOnSignals(async () => {
    await ventilator.stop();
    await health.close();
  }, logger);
  if (config.input !== undefined) {
    ventilator.runBatch(config.input, config.batchId).then(
      (summary) => logger.info({ batch: summary.batch, summary }, 'batch completed'),
      (error: Error) => logger.error({ err: error }, 'batch failed'),
    );
  }
}
