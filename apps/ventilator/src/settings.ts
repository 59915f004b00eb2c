import { common, redisSettings, replicationSettings, integer, json, nonEmpty, setting } from '@jobpipe/config';
import { ventilatorCurveSettings } from '@jobpipe/transport';

/** Everything a ventilator reads from env and flags. */
export const ventilatorSettings = {
  pipeline: common.pipeline,
  jobsBind: common.jobsBind,
  resultsConnect: common.resultsConnect,
  eventsConnect: common.eventsConnect,
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  logFormat: common.logFormat,
  maxMessageBytes: common.maxMessageBytes,
  ...ventilatorCurveSettings,
  heartbeatMs: common.heartbeatMs,
  redisUrl: common.redisUrl,
  ...redisSettings,
  ...replicationSettings,
  redisPrefix: common.redisPrefix,
  input: setting<unknown>({
    env: 'JOBPIPE_INPUT',
    flag: 'input',
    description: "a batch's input as JSON, run once at start (besides the batches submitted with jobpipe submit)",
    default: undefined,
    defaultText: '(none: wait)',
    parse: json,
  }),
  minWorkers: setting({
    env: 'JOBPIPE_MIN_WORKERS',
    flag: 'min-workers',
    description: 'the --input batch starts once this many workers have joined (demos, benchmarks)',
    default: 0,
    parse: integer(0, 10_000),
  }),
  inputPipeline: setting<string | undefined>({
    env: 'JOBPIPE_INPUT_PIPELINE',
    flag: 'input-pipeline',
    description: 'the pipeline the --input batch is for; needed only when the ventilator serves several',
    default: undefined,
    defaultText: 'the one pipeline served',
    parse: nonEmpty,
  }),
  batchId: setting<string | undefined>({
    env: 'JOBPIPE_BATCH_ID',
    flag: 'batch-id',
    description: 'id of the batch given by --input',
    default: undefined,
    defaultText: '`<pipeline>-<time>-<random>`',
    parse: nonEmpty,
  }),
  maxInFlight: setting({
    env: 'JOBPIPE_MAX_IN_FLIGHT',
    flag: 'max-in-flight',
    description: 'jobs dispatched and not yet recorded, at most; the split is paused beyond it',
    // 10,000 carries 80k jobs/s here as well as 20,000 did, with 20 MB less at the ventilator's peak.
    default: 10_000,
    parse: integer(1, 10_000_000),
  }),
  maxInFlightBytes: setting({
    env: 'JOBPIPE_MAX_IN_FLIGHT_BYTES',
    flag: 'max-in-flight-bytes',
    description:
      'payload bytes a ventilator holds at most: of jobs split ahead, sent again or being written ahead, and of jobs in flight with persistence off (with it on, Redis holds them); the split pauses beyond it. A job larger than this still goes, alone',
    // 16 MiB: the ventilator's queue stays far ahead of the workers at 10 KB and 100 KB a job, and
    // its memory the lowest measured (docs/benchmarks.md, tenth pass: 64 MiB peaked at 300-400 MB).
    default: 16 * 1024 * 1024,
    parse: integer(1024, 2 ** 40),
  }),
  maxOpenBatches: setting({
    env: 'JOBPIPE_MAX_OPEN_BATCHES',
    flag: 'max-open-batches',
    description:
      'batches a ventilator runs at once (submitted ones are taken from the queue up to this many); they share JOBPIPE_MAX_IN_FLIGHT and JOBPIPE_MAX_IN_FLIGHT_BYTES, and the workers go to the highest priority first, then to each batch in turn',
    default: 100,
    parse: integer(1, 10_000),
  }),
  rateLimit: setting({
    env: 'JOBPIPE_RATE_LIMIT',
    flag: 'rate-limit',
    description:
      "jobs sent per second at most, over all the pipeline's ventilators (a token bucket in Redis); 0 for no limit. `jobpipe limit` sets one for the pipeline that wins over this",
    default: 0,
    parse: integer(0, 10_000_000),
  }),
  maxJobsPerMessage: setting({
    env: 'JOBPIPE_MAX_JOBS_PER_MESSAGE',
    flag: 'max-jobs-per-message',
    description: 'jobs packed into one message at most, when a worker has that much credit',
    default: 500,
    parse: integer(1, 100_000),
  }),
  leaseMs: setting({
    env: 'JOBPIPE_LEASE_MS',
    flag: 'lease-ms',
    description: 'a dispatched job with no recorded result after this long is sent again, in ms',
    default: 60_000,
    parse: integer(100, 86_400_000),
  }),
  repairCheckMs: setting({
    env: 'JOBPIPE_REPAIR_CHECK_MS',
    flag: 'repair-check-ms',
    description:
      'how often each batch whose split is over is checked against Redis (durable only): jobs Redis lost after acknowledging them (a failover, an older snapshot) are sent again once two checks in a row find them missing, in ms',
    default: 5000,
    parse: integer(100, 3_600_000),
  }),
  intakeLockMs: setting({
    env: 'JOBPIPE_INTAKE_LOCK_MS',
    flag: 'intake-lock-ms',
    description:
      "how long, at most, a crashed ventilator's batch stays claimed, in ms (a live ventilator renews its claim every half of it); the next ventilator resumes the batch within a sixth of this (5 s at most) after the claim lapses",
    default: 30_000,
    parse: integer(1000, 3_600_000),
  }),
  maxAttempts: setting({
    env: 'JOBPIPE_MAX_ATTEMPTS',
    flag: 'max-attempts',
    description: 'deliveries of a job before it becomes a dead letter',
    default: 5,
    parse: integer(1, 1000),
  }),
};
