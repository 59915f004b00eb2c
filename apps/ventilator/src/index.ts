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
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { checkSetting, ConfigError, loadConfig, redisConnectionFrom, settingName, type ConfigOf } from '@jobpipe/config';
import { checkBatchId, QueueDepth, startIntake, SubmissionError, validateInput } from '@jobpipe/intake';
import {
  connectRoleRedis,
  describeRedisError,
  duplicateClient,
  JobStream,
  PipelineControls,
  isRedisConnectionError,
  isRedisRefusal,
  LedgerKeys,
  MemoryDispatchLedger,
  redisAnswers,
  RedisDispatchLedger,
  RedisLedger,
  RedisRefusedError,
  type DispatchLedger,
} from '@jobpipe/ledger';
import type { Pipeline } from '@jobpipe/pipeline';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
import { startRole } from '@jobpipe/role-shell';
import { curveServerFrom, SocketSecurity } from '@jobpipe/transport';
import { ventilatorSettings } from './settings.js';
import { watchControls } from './controls-watch.js';
import { SingleJobs } from './single-jobs.js';
import { measureWaitingWork } from './waiting-work.js';
import { Ventilator } from './ventilator.js';

export { ventilatorSettings } from './settings.js';
export { Ventilator, newBatchId } from './ventilator.js';
export { compileVentilatorOptions, withDefaults } from './ventilator-options.js';
export type { CompiledVentilatorOptions, VentilatorOptions, VentilatorOptionsWithDefaults } from './ventilator-options.js';
export { MemoryDispatchLedger, RedisDispatchLedger } from '@jobpipe/ledger';
export type { DispatchLedger, PendingJob } from '@jobpipe/ledger';

export type VentilatorConfig = ConfigOf<typeof ventilatorSettings>;

/** Starts a ventilator process from its configuration and runs it until a shutdown signal. */
export async function runVentilator(config: VentilatorConfig = loadConfig(ventilatorSettings)): Promise<void> {
  // Checked before anything starts: a bad combination is a one-line ConfigError (exit code 2).
  const redisConnection = redisConnectionFrom(config);
  const security = SocketSecurity.forServer(curveServerFrom(config));
  if (config.batchId !== undefined) checkSetting(ventilatorSettings.batchId, () => checkBatchId(config.batchId!));
  const { role, logger } = await startRole({
    role: 'ventilator',
    config,
    metricsPortSetting: ventilatorSettings.metricsPort,
    malformedReasons: MALFORMED_REASONS,
    build: async ({ pipeline, logger, metrics }) => {
      // An --input that the pipeline rejects is a bad setting, not a batch to fail and serve on after.
      if (config.input !== undefined) await checkInput(pipeline, config.input);
      const redis = redisConnection && connectRoleRedis(redisConnection, logger, config.redisPrefix);
      const redisLedger = redis && new RedisLedger(redis, config.redisPrefix);
      const ledger: DispatchLedger = redisLedger
        ? new RedisDispatchLedger(redisLedger, { pipeline: pipeline.name, leaseMs: config.leaseMs, maxAttempts: config.maxAttempts })
        : new MemoryDispatchLedger({ leaseMs: config.leaseMs, maxAttempts: config.maxAttempts });
      if (!redis) logger.warn('persistence is off: no JOBPIPE_REDIS_URL, so in-flight jobs live in this process only');
      // Pause and rate limit: set for the pipeline in Redis, its tokens shared by its ventilators.
      const controls = redisLedger && new PipelineControls(redisLedger.redis, redisLedger.keys, pipeline.name);
      const ventilator = new Ventilator({
        pipeline,
        ledger,
        rateLimit: config.rateLimit,
        ...(controls ? { takeTokens: (rate: number, burst: number, want: number) => controls.takeTokens(rate, burst, want) } : {}),
        jobsBind: config.jobsBind,
        resultsConnect: config.resultsConnect,
        eventsConnect: config.eventsConnect,
        maxInFlight: config.maxInFlight,
        maxOpenBatches: config.maxOpenBatches,
        maxJobsPerMessage: config.maxJobsPerMessage,
        leaseMs: config.leaseMs,
        maxAttempts: config.maxAttempts,
        heartbeatMs: config.heartbeatMs,
        maxMessageBytes: config.maxMessageBytes,
        security,
        logger,
        metrics,
      });
      let intake: ReturnType<typeof startIntake> | undefined;
      let singleJobs: SingleJobs | undefined;
      let stopWatching: (() => void) | undefined;
      let stopMeasuring: (() => void) | undefined;
      let queueDepth: QueueDepth | undefined;
      // The job stream's blocking reads need a connection of their own; Redis going away is
      // reported once, by the role's own connection (connectRoleRedis).
      const reader = redis && duplicateClient(redis);
      reader?.on('error', () => {});
      return {
        ventilator,
        start: () => ventilator.start(),
        ready: async () => ventilator.running && (!redis || (await redisAnswers(redis))),
        stop: async () => {
          // Forced: a running batch stays claimed and is resumed by the next ventilator.
          await intake?.close(true);
          stopWatching?.();
          stopMeasuring?.();
          await queueDepth?.close();
          await singleJobs?.stop();
          await ventilator.stop();
          reader?.disconnect();
          redis?.disconnect();
        },
        endpoints: [
          [ventilatorSettings.jobsBind, config.jobsBind],
          [ventilatorSettings.resultsConnect, config.resultsConnect],
          [ventilatorSettings.eventsConnect, config.eventsConnect],
        ],
        // Submitted batches come from the intake queue, single jobs from the job stream; the
        // pipeline's name joins the known ones.
        async serveSubmissions() {
          if (!redis) return;
          intake = startIntake({
            redis,
            prefix: config.redisPrefix,
            pipeline: pipeline.name,
            lockMs: config.intakeLockMs,
            concurrency: config.maxOpenBatches,
            logger,
            runBatch: async (input, batchId, options) => {
              const summary = await ventilator.runBatch(input, batchId, options);
              logger.info({ batch: batchId, summary }, 'batch completed');
              return summary;
            },
            // Redis going away is reported once by the role's own connection (connectRoleRedis).
            onError: (error) =>
              isRedisConnectionError(error) ? logger.debug({ err: error.message }, 'intake error') : logger.warn({ err: error.message }, 'intake error'),
          });
          await redis.sadd(new LedgerKeys(config.redisPrefix).pipelines, pipeline.name).catch((error: unknown) => {
            throw isRedisRefusal(error) ? new RedisRefusedError(redisConnection!.display, describeRedisError(error)) : error;
          });
          // Single jobs (JobpipeClient.add) come from the pipeline's job stream.
          const stream = new JobStream(redisLedger!.redis, redisLedger!.keys, pipeline.name);
          singleJobs = new SingleJobs({
            stream,
            reader: reader!,
            consumer: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
            ventilator,
            claimAfterMs: config.intakeLockMs,
            readCount: config.maxJobsPerMessage,
            // Delayed jobs run within this of their time.
            closeEveryMs: 100,
            logger,
          });
          await singleJobs.start();
          stopWatching = watchControls(controls!, ventilator, logger);
          queueDepth = new QueueDepth(redis, config.redisPrefix, pipeline.name);
          stopMeasuring = measureWaitingWork(stream, queueDepth, metrics, { pipeline: pipeline.name }, logger);
        },
      };
    },
    afterStart: (built) => built.serveSubmissions(),
    readyFields: () => ({ redis: redisConnection?.display }),
  });
  if (config.input !== undefined) {
    const { ventilator } = role;
    if (config.minWorkers > 0) logger.info({ minWorkers: config.minWorkers }, 'waiting for workers before the batch');
    while (ventilator.running && ventilator.workersConnected < config.minWorkers) await new Promise((resolve) => setTimeout(resolve, 20));
    ventilator.runBatch(config.input, config.batchId).then(
      (summary) => logger.info({ batch: summary.batch, summary }, 'batch completed'),
      (error: Error) => logger.error({ err: error }, 'batch failed'),
    );
  }
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
