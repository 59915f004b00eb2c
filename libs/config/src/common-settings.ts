import { duration, endpoint, existingFiles, integer, keyPrefix, oneOf, port, redisUrl, setting } from './settings.js';

/** How long a done batch's keys stay in Redis by default (JOBPIPE_RETENTION): a day. */
export const DEFAULT_RETENTION_MS = 24 * 3_600_000;
/** How long a done batch with dead letters stays by default (JOBPIPE_DEAD_RETENTION): a week. */
export const DEFAULT_DEAD_RETENTION_MS = 7 * 86_400_000;

const RETENTION_LIMIT = duration(1000, 3650 * 86_400_000);

/** A retention: a duration from 1s to 3650d, or 0 for keeping batches forever (as before retention). */
export function retention(raw: string): number {
  if (/^0+\s*(ms|s|m|h|d)?$/i.test(raw.trim())) return 0;
  return RETENTION_LIMIT(raw);
}

/** Settings that several roles share. Each app picks the ones it reads. */
export const common = {
  pipeline: setting({
    env: 'JOBPIPE_PIPELINE',
    flag: 'pipeline',
    description:
      'path of the pipeline module (a file whose default export is definePipeline(...)); several, separated by commas, for a role that serves several pipelines (a worker then runs each with its own slots)',
    parse: existingFiles,
  }),
  metricsPort: setting({
    env: 'JOBPIPE_METRICS_PORT',
    flag: 'metrics-port',
    description: 'HTTP port for /metrics, /healthz and /readyz (0 picks a free port)',
    default: 9400,
    parse: port,
  }),
  logLevel: setting({
    env: 'JOBPIPE_LOG_LEVEL',
    flag: 'log-level',
    description: 'log level: trace, debug, info, warn, error, fatal or silent',
    default: 'info' as const,
    parse: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'),
  }),
  logFormat: setting({
    env: 'JOBPIPE_LOG_FORMAT',
    flag: 'log-format',
    description: "log lines as JSON, or readable ('pretty'); 'auto' is pretty on a terminal, JSON otherwise",
    default: 'auto' as const,
    parse: oneOf('auto', 'json', 'pretty'),
  }),
  maxMessageBytes: setting({
    env: 'JOBPIPE_MAX_MESSAGE_BYTES',
    flag: 'max-message-bytes',
    description: 'largest message accepted, in bytes; the socket cuts a peer off at twice this',
    default: 4 * 1024 * 1024,
    parse: integer(1024, 1024 * 1024 * 1024),
  }),
  heartbeatMs: setting({
    env: 'JOBPIPE_HEARTBEAT_MS',
    flag: 'heartbeat-ms',
    description: 'worker heartbeat interval in ms; a worker silent for 3 intervals is presumed dead (a draining one is not: its jobs keep their leases)',
    default: 1000,
    parse: integer(50, 60_000),
  }),
  jobsBind: setting({
    env: 'JOBPIPE_JOBS_BIND',
    flag: 'jobs-bind',
    description: 'ventilator: endpoint it binds for workers',
    default: 'tcp://*:5557',
    parse: endpoint,
  }),
  jobsConnect: setting({
    env: 'JOBPIPE_JOBS_CONNECT',
    flag: 'jobs-connect',
    description: "worker: the ventilator's endpoint",
    default: 'tcp://127.0.0.1:5557',
    parse: endpoint,
  }),
  resultsBind: setting({
    env: 'JOBPIPE_RESULTS_BIND',
    flag: 'results-bind',
    description: 'sink: endpoint it binds for results',
    default: 'tcp://*:5558',
    parse: endpoint,
  }),
  resultsConnect: setting({
    env: 'JOBPIPE_RESULTS_CONNECT',
    flag: 'results-connect',
    description: "worker and ventilator: the sink's results endpoint",
    default: 'tcp://127.0.0.1:5558',
    parse: endpoint,
  }),
  eventsBind: setting({
    env: 'JOBPIPE_EVENTS_BIND',
    flag: 'events-bind',
    description: 'sink: endpoint it binds to publish batch events',
    default: 'tcp://*:5559',
    parse: endpoint,
  }),
  eventsConnect: setting({
    env: 'JOBPIPE_EVENTS_CONNECT',
    flag: 'events-connect',
    description: "ventilator and clients: the sink's events endpoint",
    default: 'tcp://127.0.0.1:5559',
    parse: endpoint,
  }),
  redisUrl: setting<string | undefined>({
    env: 'JOBPIPE_REDIS_URL',
    flag: 'redis-url',
    description: 'Redis for the durable ledger and intake (redis:// or rediss://); without it persistence is off',
    default: undefined,
    defaultText: '(none: persistence off)',
    parse: redisUrl,
  }),
  redisPrefix: setting({
    env: 'JOBPIPE_REDIS_PREFIX',
    flag: 'redis-prefix',
    description: 'prefix of every Redis key, so several deployments can share one Redis',
    default: 'jobpipe',
    parse: keyPrefix,
  }),
  retention: setting({
    env: 'JOBPIPE_RETENTION',
    flag: 'retention',
    description:
      "how long a done batch's keys (summary, results, counters) stay in Redis before they expire: 90s, 30m, 24h, 7d or ms; 0 keeps them forever. A submission's own --retention wins",
    default: DEFAULT_RETENTION_MS,
    defaultText: '`24h`',
    parse: retention,
  }),
  deadRetention: setting({
    env: 'JOBPIPE_DEAD_RETENTION',
    flag: 'dead-retention',
    description:
      'how long a done batch that has dead letters stays instead (all its keys, so `jobpipe dead retry` loses nothing), if longer than its retention; 0 keeps such batches forever',
    default: DEFAULT_DEAD_RETENTION_MS,
    defaultText: '`7d`',
    parse: retention,
  }),
};
