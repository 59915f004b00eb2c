/**
 * The sink role: `runSink(config)` binds for results and events and records results until
 * SIGTERM. `Sink` is the role itself, for embedding; every option but the pipeline has a default
 * (SINK_DEFAULTS), and a value it cannot run with is an OptionError:
 *
 * ```ts
 * const sink = new Sink({ pipeline: await loadPipeline('./pipeline.js'), resultsBind: 'tcp://*:6558', maxOpenBatches: 100 });
 * await sink.start();
 * ```
 */
import { loadConfig, redisConnectionFrom, replicationFrom, type ConfigOf } from '@jobpipe/config';
import { connectRoleRedis, MemoryResultLedger, startLedgerClock, redisAnswers, RedisLedger, RedisResultLedger, type ResultLedger } from '@jobpipe/ledger';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
import { startTracing, stopTracing } from '@jobpipe/observability';
import { startRole } from '@jobpipe/role-shell';
import type { Pipeline } from '@jobpipe/pipeline';
import { SocketSecurity, sinkCurveFrom } from '@jobpipe/transport';
import { sinkSettings } from './settings.js';
import { Sink } from './sink.js';

export { sinkSettings } from './settings.js';
export { Sink } from './sink.js';
export { compileSinkOptions, SINK_DEFAULTS, withDefaults } from './sink-options.js';
export type { CompiledSinkOptions, SinkOptions, SinkOptionsWithDefaults } from './sink-options.js';
export { MemoryResultLedger, RedisResultLedger, SeenSet } from '@jobpipe/ledger';
export type { ResultLedger } from '@jobpipe/ledger';

export type SinkConfig = ConfigOf<typeof sinkSettings>;

/** Starts a sink process from its configuration and runs it until a shutdown signal. */
export async function runSink(config: SinkConfig = loadConfig(sinkSettings)): Promise<void> {
  // Checked before anything starts: a bad combination is a one-line ConfigError (exit code 2).
  const redisConnection = redisConnectionFrom(config);
  const replication = replicationFrom(config, redisConnection);
  const security = SocketSecurity.forSink(sinkCurveFrom(config));
  // Tracing, when OTEL_EXPORTER_OTLP_ENDPOINT asks for it (docs/architecture.md, "Tracing"); nothing is loaded otherwise.
  // It traces from its first job: the export thread starts with the role, not during that job's batch.
  await startTracing('sink', process.env, { startExport: true });
  await startRole({
    role: 'sink',
    config,
    metricsPortSetting: sinkSettings.metricsPort,
    malformedReasons: [...MALFORMED_REASONS, 'wrong_pipeline', 'unknown_batch'],
    build: ({ pipelines, logger, metrics }) => {
      const redis = redisConnection && connectRoleRedis(redisConnection, logger, config.redisPrefix);
      if (!redis) logger.warn('persistence is off: no JOBPIPE_REDIS_URL, so results and batch counts live in this process only');
      const redisLedger = redis && new RedisLedger(redis, config.redisPrefix);
      if (redisLedger && replication) redisLedger.requireReplicas(replication.replicas, replication.timeoutMs);
      // Each pipeline's retries and backoff; one that sets none gets the ledger's defaults (RedisResultLedgerOptions).
      const ledgerOf = (pipeline: Pipeline): ResultLedger =>
        redisLedger
          ? new RedisResultLedger(redisLedger, {
              retries: pipeline.retries,
              retryBackoffMs: pipeline.retryBackoffMs,
              retryBackoffMaxMs: pipeline.retryBackoffMaxMs,
              retentionMs: config.retention,
              deadRetentionMs: config.deadRetention,
            })
          : new MemoryResultLedger();
      const sink = new Sink({
        pipelines,
        ledgerOf,
        resultsBind: config.resultsBind,
        eventsBind: config.eventsBind,
        maxMessageBytes: config.maxMessageBytes,
        security,
        logger,
        metrics,
      });
      let clock: { stop: () => void } | undefined;
      return {
        start: async () => {
          await sink.start();
          if (redisLedger) clock = startLedgerClock(redisLedger.redis, redisLedger.keys, (now, seen) => sink.redisWentBack(now, seen));
        },
        ready: async () => sink.running && (!redis || (await redisAnswers(redis))),
        stop: async () => {
          clock?.stop();
          await sink.stop();
          // Spans still buffered are exported before the process exits.
          await stopTracing();
          redis?.disconnect();
        },
        endpoints: [
          [sinkSettings.resultsBind, config.resultsBind],
          [sinkSettings.eventsBind, config.eventsBind],
        ],
      };
    },
    readyFields: () => ({ redis: redisConnection?.display }),
  });
}
