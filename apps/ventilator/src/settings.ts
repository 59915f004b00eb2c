import { common, integer, json, nonEmpty, setting } from '@jobpipe/config';

/** Everything a ventilator reads from env and flags. */
export const ventilatorSettings = {
  pipeline: common.pipeline,
  jobsBind: common.jobsBind,
  resultsConnect: common.resultsConnect,
  eventsConnect: common.eventsConnect,
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  maxMessageBytes: common.maxMessageBytes,
  heartbeatMs: common.heartbeatMs,
  input: setting<unknown>({
    env: 'JOBPIPE_INPUT',
    flag: 'input',
    description: "a batch's input as JSON, run once at start (until durable intake lands, the way to submit)",
    default: undefined,
    defaultText: '(none: wait)',
    parse: json,
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
    default: 20_000,
    parse: integer(1, 10_000_000),
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
    description: 'a dispatched job with no recorded result after this long is sent again',
    default: 300_000,
    parse: integer(100, 86_400_000),
  }),
  maxAttempts: setting({
    env: 'JOBPIPE_MAX_ATTEMPTS',
    flag: 'max-attempts',
    description: 'deliveries of a job before it becomes a dead letter',
    default: 5,
    parse: integer(1, 1000),
  }),
};
