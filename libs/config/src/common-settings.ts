import { hostname } from 'node:os';
import { endpoint, existingFile, integer, nonEmpty, oneOf, port, setting } from './settings.js';

/** Settings that several roles share. Each app picks the ones it reads. */
export const common = {
  pipeline: setting({
    env: 'JOBPIPE_PIPELINE',
    flag: 'pipeline',
    description: 'path of the pipeline module (a file whose default export is definePipeline(...))',
    parse: existingFile,
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
    description: 'worker heartbeat interval in ms; a worker silent for 3 intervals is presumed dead',
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
  workerId: setting({
    env: 'JOBPIPE_WORKER_ID',
    flag: 'worker-id',
    description: "worker: stable id in metrics and logs (the container's or pod's hostname by default)",
    default: hostname(),
    defaultText: 'the hostname',
    parse: nonEmpty,
  }),
};
