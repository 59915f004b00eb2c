/**
 * The ventilator role: `runVentilator(config)` binds for workers and runs batches (submitted ones
 * from the intake queue, or one given by --input) until SIGTERM. `Ventilator` is the role itself,
 * for embedders: only the pipeline is required, every other option has the settings' default.
 *
 * ```ts
 * const ventilator = new Ventilator({ pipeline, jobsBind: 'tcp://*:6557' });
 * await ventilator.start();
 * const summary = await ventilator.runBatch({ n: 1000 });
 * ```
 */
import { checkSetting, ConfigError, loadConfig, redisConnectionFrom, replicationFrom, settingName, type ConfigOf } from '@jobpipe/config';
import { checkBatchId, SubmissionError, validateInput } from '@jobpipe/intake';
import { connectRoleRedis, MemoryDispatchLedger, PipelineControls, redisAnswers, RedisDispatchLedger, RedisLedger, type DispatchLedger } from '@jobpipe/ledger';
import type { Pipeline } from '@jobpipe/pipeline';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
import { startTracing, stopTracing } from '@jobpipe/observability';
import { startRole } from '@jobpipe/role-shell';
import { SocketSecurity, ventilatorCurveFrom } from '@jobpipe/transport';
import { startRedisServices, type RedisServices } from './redis-services.js';
import { ventilatorSettings } from './settings.js';
import { Ventilator } from './ventilator.js';

export { ventilatorSettings } from './settings.js';
export { Ventilator, newBatchId } from './ventilator.js';
export { PipelineLane } from './pipeline-lane.js';
export { compileVentilatorOptions, withDefaults } from './ventilator-options.js';
export type { CompiledVentilatorOptions, VentilatorOptions, VentilatorOptionsWithDefaults } from './ventilator-options.js';
export { MemoryDispatchLedger, RedisDispatchLedger } from '@jobpipe/ledger';
export type { DispatchLedger, PendingJob } from '@jobpipe/ledger';

export type VentilatorConfig = ConfigOf<typeof ventilatorSettings>;

/** Starts a ventilator process from its configuration and runs it until a shutdown signal. */
export async function runVentilator(config: VentilatorConfig = loadConfig(ventilatorSettings)): Promise<void> {
  // Checked before anything starts: a bad combination is a one-line ConfigError (exit code 2).
  const redisConnection = redisConnectionFrom(config);
  const replication = replicationFrom(config, redisConnection);
  const security = SocketSecurity.forVentilator(ventilatorCurveFrom(config));
  if (config.batchId !== undefined) checkSetting(ventilatorSettings.batchId, () => checkBatchId(config.batchId!));
  // Tracing, when OTEL_EXPORTER_OTLP_ENDPOINT asks for it (docs/architecture.md, "Tracing"); nothing is loaded otherwise.
  // It traces from its first job: the export thread starts with the role, not during that job's batch.
  await startTracing('ventilator', process.env, { startExport: true });
  const { role, logger } = await startRole({
    role: 'ventilator',
    config,
    metricsPortSetting: ventilatorSettings.metricsPort,
    malformedReasons: MALFORMED_REASONS,
    build: async ({ pipelines, logger, metrics }) => {
      // An --input that the pipeline rejects is a bad setting, not a batch to fail and serve on after.
      if (config.input !== undefined) await checkInput(inputPipeline(pipelines, config.inputPipeline), config.input);
      const redis = redisConnection && connectRoleRedis(redisConnection, logger, config.redisPrefix);
      const redisLedger = redis && new RedisLedger(redis, config.redisPrefix);
      if (redisLedger && replication) redisLedger.requireReplicas(replication.replicas, replication.timeoutMs);
      const ledgerOf = (pipeline: string): DispatchLedger =>
        redisLedger
          ? new RedisDispatchLedger(redisLedger, { pipeline, leaseMs: config.leaseMs, maxAttempts: config.maxAttempts })
          : new MemoryDispatchLedger({ leaseMs: config.leaseMs, maxAttempts: config.maxAttempts });
      if (!redis) logger.warn('persistence is off: no JOBPIPE_REDIS_URL, so in-flight jobs live in this process only');
      const ventilator = new Ventilator({
        pipelines,
        ledgerOf,
        rateLimit: config.rateLimit,
        // Pause and rate limit: set for each pipeline in Redis, its tokens shared by its ventilators.
        ...(redisLedger
          ? {
              takeTokensOf: (pipeline: string) => {
                const controls = new PipelineControls(redisLedger.redis, redisLedger.keys, pipeline);
                return (rate: number, burst: number, want: number) => controls.takeTokens(rate, burst, want);
              },
            }
          : {}),
        jobsBind: config.jobsBind,
        resultsConnect: config.resultsConnect,
        eventsConnect: config.eventsConnect,
        maxInFlight: config.maxInFlight,
        maxInFlightBytes: config.maxInFlightBytes,
        maxOpenBatches: config.maxOpenBatches,
        maxJobsPerMessage: config.maxJobsPerMessage,
        leaseMs: config.leaseMs,
        maxAttempts: config.maxAttempts,
        repairCheckMs: config.repairCheckMs,
        heartbeatMs: config.heartbeatMs,
        maxMessageBytes: config.maxMessageBytes,
        security,
        logger,
        metrics,
      });
      let services: RedisServices | undefined;
      return {
        ventilator,
        start: () => ventilator.start(),
        ready: async () => ventilator.running && (!redis || (await redisAnswers(redis))),
        stop: async () => {
          await services?.stop();
          await ventilator.stop();
          // Spans still buffered are exported before the process exits.
          await stopTracing();
          redis?.disconnect();
        },
        endpoints: [
          [ventilatorSettings.jobsBind, config.jobsBind],
          [ventilatorSettings.resultsConnect, config.resultsConnect],
          [ventilatorSettings.eventsConnect, config.eventsConnect],
        ],
        // Submitted batches, single jobs and each pipeline's controls come from Redis.
        async serveFromRedis() {
          if (!redisLedger) return;
          services = startRedisServices({
            ledger: redisLedger,
            lanes: [...ventilator.lanes.values()],
            redisWentBack: (now, seen) => ventilator.redisWentBack(now, seen),
            redisDisplay: redisConnection!.display,
            intakeLockMs: config.intakeLockMs,
            maxOpenBatches: config.maxOpenBatches,
            readCount: config.maxJobsPerMessage,
            logger,
            metrics,
          });
          await services.ready;
        },
      };
    },
    afterStart: (built) => built.serveFromRedis(),
    readyFields: () => ({ redis: redisConnection?.display }),
  });
  if (config.input !== undefined) {
    const { ventilator } = role;
    if (config.minWorkers > 0) logger.info({ minWorkers: config.minWorkers }, 'waiting for workers before the batch');
    while (ventilator.running && ventilator.workersConnected < config.minWorkers) await new Promise((resolve) => setTimeout(resolve, 20));
    const pipeline = inputPipeline(
      [...ventilator.lanes.values()].map((lane) => lane.pipeline),
      config.inputPipeline,
    ).name;
    ventilator.runBatch(config.input, config.batchId, { pipeline }).then(
      (summary) => logger.info({ batch: summary.batch, summary }, 'batch completed'),
      (error: Error) => logger.error({ err: error }, 'batch failed'),
    );
  }
}

/**
 * The pipeline an --input batch is for: the one named by --input-pipeline, else the one served.
 * @throws ConfigError when several are served and none (or an unknown one) is named
 */
function inputPipeline(pipelines: readonly Pipeline[], name: string | undefined): Pipeline {
  const { env, flag } = ventilatorSettings.inputPipeline;
  if (name === undefined) {
    if (pipelines.length === 1) return pipelines[0]!;
    throw new ConfigError(
      env,
      flag,
      `${settingName(ventilatorSettings.input)} with several pipelines needs ${settingName(ventilatorSettings.inputPipeline)}: one of ${pipelines.map((p) => p.name).join(', ')}`,
    );
  }
  const pipeline = pipelines.find((each) => each.name === name);
  if (!pipeline)
    throw new ConfigError(
      env,
      flag,
      `invalid ${settingName(ventilatorSettings.inputPipeline)}: ${name} is not a pipeline served here (${pipelines.map((p) => p.name).join(', ')})`,
    );
  return pipeline;
}

/**
 * Checks the --input batch as `jobpipe submit` checks a batch (its schema and validate, or the
 * first job of its split): a rejected input is a ConfigError naming JOBPIPE_INPUT.
 */
async function checkInput(pipeline: Pipeline, input: unknown): Promise<void> {
  try {
    await validateInput(pipeline, input);
  } catch (error) {
    if (!(error instanceof SubmissionError)) throw error;
    const { env, flag } = ventilatorSettings.input;
    throw new ConfigError(env, flag, `${settingName(ventilatorSettings.input)}: ${(error as Error).message}`);
  }
}
