import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { QueueDepth, startIntake } from '@jobpipe/intake';
import {
  describeRedisError,
  duplicateClient,
  isRedisConnectionError,
  isRedisRefusal,
  JobStream,
  startLedgerClock,
  RedisRefusedError,
  PipelineControls,
  type RedisLedger,
} from '@jobpipe/ledger';
import type { Logger, Metrics } from '@jobpipe/observability';
import { watchControls } from './controls-watch.js';
import { SingleJobs } from './single-jobs.js';
import type { PipelineLane } from './pipeline-lane.js';
import { measureWaitingWork } from './waiting-work.js';
import { publishWorkerBoard } from './worker-board.js';

export interface RedisServicesOptions {
  ledger: RedisLedger;
  /** The lane of each pipeline served: each gets its intake, job stream and controls. */
  lanes: readonly PipelineLane[];
  /** Told when Redis went back in time (LedgerClock), once for every lane. */
  redisWentBack: (now?: number, seen?: number) => void;
  /** How the Redis is named in errors (RedisConnectionSettings.display). */
  redisDisplay: string;
  /** JOBPIPE_INTAKE_LOCK_MS: a stopped ventilator's batches and read single jobs are taken over after it. */
  intakeLockMs: number;
  /** JOBPIPE_MAX_OPEN_BATCHES: batches taken from the intake at once. */
  maxOpenBatches: number;
  /** Single jobs read from the stream at once. */
  readCount: number;
  logger: Logger;
  metrics: Metrics;
}

/** What a durable ventilator serves from Redis, besides its ledger; one stop for all of it. */
export interface RedisServices {
  /** Resolves once all of it serves: it waits for Redis. */
  readonly ready: Promise<void>;
  /** Forced: a running batch stays claimed and is resumed by the next ventilator. Stops it while it waits for Redis too. */
  stop(): Promise<void>;
}

/**
 * Starts what a ventilator with Redis serves besides its ledger: for each pipeline, submitted
 * batches from its intake queue, single jobs from its job stream, its controls (pause, rate
 * limit) and the measure of the work waiting in Redis; and one ledger clock that notices Redis
 * going back in time. Each pipeline's name joins the known ones first, so a user the ACL keeps
 * from the prefix is refused here, in one line.
 */
export function startRedisServices(o: RedisServicesOptions): RedisServices {
  const { ledger } = o;
  const { redis } = ledger;
  const pipelines = o.lanes.map((lane) => startPipelineServices(o, lane));
  let clock: ReturnType<typeof startLedgerClock> | undefined;
  let stopBoard: (() => void) | undefined;
  const stop = async () => {
    clock?.stop();
    stopBoard?.();
    await Promise.all(pipelines.map((services) => services.stop()));
  };
  const ready = (async () => {
    await redis.sadd(ledger.keys.pipelines, ...o.lanes.map((lane) => lane.name)).catch((error: unknown) => {
      throw isRedisRefusal(error) ? new RedisRefusedError(o.redisDisplay, describeRedisError(error)) : error;
    });
    clock = startLedgerClock(redis, ledger.keys, (now, seen) => {
      o.redisWentBack(now, seen);
      for (const services of pipelines) services.redisWentBack();
    });
    // Before any batch or single job is read: a loss from then on is noticed (a restore that
    // took the begin of a bucket read before the clock's first tick went unseen, 2026-12-05).
    await clock.ready;
    await Promise.all(pipelines.map((services) => services.start()));
    // For the console: each worker's load, without it knowing this ventilator's address.
    const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    stopBoard = publishWorkerBoard(ledger, new Map(o.lanes.map((lane) => [lane.name, lane])), id);
  })();
  return { ready, stop };
}

/** One pipeline's part of the Redis services. */
function startPipelineServices(o: RedisServicesOptions, lane: PipelineLane) {
  const { ledger } = o;
  const { redis } = ledger;
  const pipeline = lane.name;
  const logger = o.logger.child({ pipeline });
  const controls = new PipelineControls(redis, ledger.keys, pipeline);
  const intake = startIntake({
    redis,
    prefix: ledger.keys.prefix,
    pipeline,
    lockMs: o.intakeLockMs,
    concurrency: o.maxOpenBatches,
    logger,
    runBatch: async (input, batchId, options) => {
      const summary = await lane.runBatch(input, batchId, options);
      logger.info({ batch: batchId, summary }, 'batch completed');
      return summary;
    },
    // Redis going away is reported once by the role's own connection (connectRoleRedis).
    onError: (error) =>
      isRedisConnectionError(error) ? logger.debug({ err: error.message }, 'intake error') : logger.warn({ err: error.message }, 'intake error'),
  });
  // The job stream's blocking reads need a connection of their own; Redis going away is reported
  // once, by the role's own connection.
  const reader = duplicateClient(redis);
  reader.on('error', () => {});
  const stream = new JobStream(redis, ledger.keys, pipeline);
  const singleJobs = new SingleJobs({
    stream,
    reader,
    consumer: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    ventilator: lane,
    claimAfterMs: o.intakeLockMs,
    readCount: o.readCount,
    // Delayed jobs run within this of their time.
    closeEveryMs: 100,
    logger,
  });
  const queueDepth = new QueueDepth(redis, ledger.keys.prefix, pipeline);
  let stopWatching: (() => void) | undefined;
  let stopMeasuring: (() => void) | undefined;
  return {
    async start() {
      await singleJobs.start();
      stopWatching = watchControls(controls, lane, logger);
      stopMeasuring = measureWaitingWork(stream, queueDepth, o.metrics, { pipeline }, logger);
    },
    redisWentBack() {
      singleJobs.beginAgain();
      stream.closeOpen().catch((error: Error) => logger.warn({ err: error.message }, 'could not close the open buckets of single jobs'));
    },
    async stop() {
      // A graceful stop: its batches go back in the queue now, for the next ventilator to resume
      // at once rather than after their intake locks lapse.
      const handed = await intake.handBack();
      if (handed.length > 0) logger.info({ batches: handed }, 'handed its batches back to the queue');
      stopWatching?.();
      stopMeasuring?.();
      await queueDepth.close();
      await singleJobs.stop();
      reader.disconnect();
    },
  };
}
