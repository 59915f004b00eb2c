/**
 * The sink role: `runSink(config)` binds for results and events and records results until
 * SIGTERM. `Sink` is the role itself, for embedding.
 */
import { loadConfig, type ConfigOf } from '@jobpipe/config';
import { loadPipeline } from '@jobpipe/pipeline';
import { createLogger, exitOnSignals, Metrics, startHealthServer } from '@jobpipe/observability';
import { sinkSettings } from './settings.js';
import { Sink } from './sink.js';

export { sinkSettings } from './settings.js';
export { Sink } from './sink.js';
export type { SinkOptions } from './sink.js';
export { SeenSet } from './seen-set.js';

export type SinkConfig = ConfigOf<typeof sinkSettings>;

/** Starts a sink process from its configuration and runs it until a shutdown signal. */
export async function runSink(config: SinkConfig = loadConfig(sinkSettings)): Promise<void> {
  const logger = createLogger('sink', config.logLevel);
  const pipeline = await loadPipeline(config.pipeline);
  const metrics = new Metrics();
  const sink = new Sink({
    pipeline,
    resultsBind: config.resultsBind,
    eventsBind: config.eventsBind,
    maxMessageBytes: config.maxMessageBytes,
    logger,
    metrics,
  });
  await sink.start();
  const health = await startHealthServer({ port: config.metricsPort, registry: metrics.registry, ready: () => sink.ready });
  logger.info({ pipeline: pipeline.name, metricsPort: health.port }, 'ready');
  exitOnSignals(async () => {
    await sink.stop();
    await health.close();
  }, logger);
}
