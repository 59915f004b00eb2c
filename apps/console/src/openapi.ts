/**
 * The console API's OpenAPI 3.1 document: the reference for every request and response. The
 * routes (api.ts) validate requests with the same schemas; the tests validate every response
 * against this document.
 */

const integer = (minimum = 0, maximum = Number.MAX_SAFE_INTEGER) => ({ type: 'integer', minimum, maximum }) as const;
const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** Ids as they travel in paths: what the ledger accepts, nothing that walks a path (dots only: `.`, `..`). */
const ID_PART = '(?!\\.+(?:~|$))[A-Za-z0-9._-]{1,100}';
export const BATCH_ID_PATTERN = `^${ID_PART}$`;
/** A batch's id, or the id of a bucket of single jobs (`<pipeline>~<id>`), as a path names it. */
const BATCH_OR_BUCKET_PATTERN = `^${ID_PART}(~${ID_PART})?$`;
const PIPELINE_NAME_PATTERN = '^[^/\\s]{1,200}$';
const JOB_ID_PATTERN = '^[A-Za-z0-9._~:-]{1,400}$';

export const schemas = {
  Problem: {
    type: 'object',
    description: 'An error, as RFC 9457 problem details.',
    required: ['type', 'title', 'status', 'detail'],
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: integer(400, 599),
      detail: { type: 'string' },
      instance: { type: 'string' },
      errors: {
        type: 'array',
        description: 'The failing fields: `input.limit`, `priority` (body fields), `query.limit`, `path.batch`.',
        items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
      },
    },
  },
  Queue: {
    type: 'object',
    description: "A pipeline's intake queue of batches (BullMQ).",
    required: ['waiting', 'active', 'prioritized', 'delayed', 'completed', 'failed'],
    properties: Object.fromEntries(['waiting', 'active', 'prioritized', 'delayed', 'completed', 'failed'].map((name) => [name, integer()])),
  },
  Pipeline: {
    type: 'object',
    required: ['name', 'accepting', 'paused', 'rateLimit', 'queue', 'jobsWaiting', 'inFlight', 'workers', 'jobsPerSecond'],
    properties: {
      name: { type: 'string' },
      accepting: { type: 'boolean', description: 'The console has its module and takes batches and jobs for it.' },
      paused: { type: 'boolean' },
      rateLimit: { ...nullable(integer(0, 10_000_000)), description: "Jobs per second over all its ventilators; 0 none; null each ventilator's own." },
      queue: ref('Queue'),
      jobsWaiting: { ...integer(), description: 'Jobs at its ventilators waiting for a worker.' },
      inFlight: integer(),
      workers: { ...integer(), description: 'Worker sessions serving it.' },
      jobsPerSecond: { type: 'number', minimum: 0 },
    },
  },
  BatchSummary: {
    type: 'object',
    required: ['batch', 'pipeline', 'jobs', 'failed', 'wallSeconds', 'jobsPerSecond', 'perWorker'],
    properties: {
      batch: { type: 'string' },
      pipeline: { type: 'string' },
      jobs: integer(),
      failed: integer(),
      duplicates: integer(),
      cancelled: integer(),
      wallSeconds: { type: 'number', minimum: 0 },
      jobsPerSecond: { type: 'number', minimum: 0 },
      perWorker: { type: 'object', additionalProperties: integer() },
      answer: { description: "The pipeline's summarize, any JSON." },
    },
  },
  BatchStatus: {
    type: 'object',
    required: [
      'batch',
      'pipeline',
      'state',
      'submittedAt',
      'done',
      'total',
      'failed',
      'cancelled',
      'cancelledAt',
      'jobsPerSecond',
      'etaSeconds',
      'summary',
      'error',
    ],
    properties: {
      batch: { type: 'string' },
      pipeline: { type: 'string' },
      state: { enum: ['queued', 'running', 'done', 'failed'] },
      submittedAt: { ...nullable(integer()), description: 'Epoch ms.' },
      done: { ...integer(), description: 'Jobs with a result, dead-lettered or cancelled.' },
      total: { ...nullable(integer()), description: 'Null while its split runs.' },
      failed: integer(),
      cancelled: integer(),
      cancelledAt: {
        ...nullable(integer()),
        description: 'When the whole batch was cancelled (epoch ms), or null. A batch cancelled while queued ran no job: it is done with none cancelled.',
      },
      jobsPerSecond: {
        ...nullable({ type: 'number', minimum: 0 }),
        description: "A running batch's over the last 30 s of progress the console saw (null when it saw none); a done batch's over its whole run.",
      },
      etaSeconds: nullable({ type: 'number', minimum: 0 }),
      summary: nullable(ref('BatchSummary')),
      error: { ...nullable({ type: 'string' }), description: 'Why it failed (its split threw).' },
    },
  },
  BatchDetail: {
    allOf: [
      ref('BatchStatus'),
      {
        type: 'object',
        required: ['history', 'perWorker', 'deadLetters'],
        properties: {
          history: {
            type: 'array',
            description: 'Progress over time, as the console saw it (epoch ms, jobs done).',
            items: { type: 'object', required: ['at', 'done'], properties: { at: integer(), done: integer() } },
          },
          perWorker: { type: 'object', additionalProperties: integer(), description: 'Results recorded per worker so far.' },
          deadLetters: integer(),
        },
      },
    ],
  },
  BatchList: { type: 'object', required: ['batches'], properties: { batches: { type: 'array', items: ref('BatchStatus') } } },
  PipelineList: { type: 'object', required: ['pipelines'], properties: { pipelines: { type: 'array', items: ref('Pipeline') } } },
  ResultsPage: {
    type: 'object',
    required: ['results', 'next'],
    properties: {
      results: { type: 'array', items: { type: 'object', required: ['seq', 'value'], properties: { seq: integer(), value: {} } } },
      next: { ...nullable({ type: 'string' }), description: 'The cursor of the next page; null after the last.' },
    },
  },
  JobError: {
    type: 'object',
    required: ['name', 'message'],
    properties: { name: { type: 'string' }, message: { type: 'string' }, retryable: { type: 'boolean' } },
  },
  DeadLetter: {
    type: 'object',
    required: ['batch', 'seq', 'attempts', 'error'],
    properties: { batch: { type: 'string' }, seq: integer(), attempts: integer(), payload: {}, error: nullable(ref('JobError')) },
  },
  DeadLetterList: { type: 'object', required: ['deadLetters'], properties: { deadLetters: { type: 'array', items: ref('DeadLetter') } } },
  Job: {
    type: 'object',
    required: ['id', 'pipeline', 'state'],
    properties: {
      id: { type: 'string' },
      pipeline: { type: 'string' },
      state: { enum: ['queued', 'running', 'done', 'failed', 'cancelled'] },
      value: {},
      error: ref('JobError'),
    },
  },
  Worker: {
    type: 'object',
    required: ['id', 'pipeline', 'ventilator', 'slots', 'busy', 'held', 'credit', 'sent', 'jobsPerSecond', 'draining', 'lastSeenAt'],
    properties: {
      id: { type: 'string' },
      pipeline: { type: 'string' },
      ventilator: { type: 'string' },
      slots: {
        ...nullable(integer(1, 1_000_000)),
        description: 'The jobs it runs at once, as its Credit says; null from a worker that does not say (PROTOCOL.md 3.3).',
      },
      busy: { ...nullable(integer()), description: 'Of its slots, how many run now at most: its held jobs, up to its slots; null without slots.' },
      held: { ...integer(), description: 'Jobs sent to it and not recorded yet: running or prefetched (its busy slots and its prefetch).' },
      credit: { ...integer(), description: 'Jobs more it asked for.' },
      sent: integer(),
      jobsPerSecond: { type: 'number', minimum: 0 },
      draining: { type: 'boolean' },
      lastSeenAt: integer(),
    },
  },
  WorkerList: {
    type: 'object',
    required: ['workers', 'balance'],
    properties: {
      workers: { type: 'array', items: ref('Worker') },
      balance: { ...nullable({ type: 'number', minimum: 0, maximum: 1 }), description: "Jain's index of the workers' jobs/s: 1 when even; null when idle." },
    },
  },
  SubmitBatch: {
    type: 'object',
    required: ['input'],
    additionalProperties: false,
    properties: {
      input: { description: "The batch's input, checked against the pipeline's schema." },
      batchId: { type: 'string', pattern: BATCH_ID_PATTERN },
      priority: integer(1, 2_097_151),
      retention: { ...integer(0, 3_650 * 86_400_000), description: 'ms its keys stay once done; 0 forever.' },
      deadRetention: integer(0, 3_650 * 86_400_000),
    },
  },
  AddJobs: {
    type: 'object',
    required: ['jobs'],
    additionalProperties: false,
    properties: {
      jobs: {
        type: 'array',
        minItems: 1,
        maxItems: 10_000,
        items: {
          type: 'object',
          required: ['payload'],
          additionalProperties: false,
          properties: {
            payload: {},
            jobId: { type: 'string', minLength: 1, maxLength: 200 },
            priority: integer(1, 2_097_151),
            delayMs: integer(0, 3_650 * 86_400_000),
          },
        },
      },
    },
  },
  JobIds: { type: 'object', required: ['ids'], properties: { ids: { type: 'array', items: { type: 'string' } } } },
  RateLimit: {
    type: 'object',
    required: ['jobsPerSecond'],
    additionalProperties: false,
    properties: { jobsPerSecond: nullable(integer(0, 10_000_000)) },
  },
  Priority: { type: 'object', required: ['priority'], additionalProperties: false, properties: { priority: integer(1, 2_097_151) } },
  Seqs: {
    type: 'object',
    additionalProperties: false,
    properties: { seqs: { type: 'array', minItems: 1, maxItems: 100_000, items: integer() } },
  },
  Cancelled: { type: 'object', required: ['cancelled'], properties: { cancelled: { type: 'boolean' }, batch: ref('BatchStatus') } },
  Retried: { type: 'object', required: ['retried'], properties: { retried: integer() } },
  Purged: { type: 'object', required: ['purged'], properties: { purged: integer() } },
} as const;

export const params = {
  pipeline: { type: 'string', pattern: PIPELINE_NAME_PATTERN },
  batch: { type: 'string', pattern: BATCH_OR_BUCKET_PATTERN },
  job: { type: 'string', pattern: JOB_ID_PATTERN },
} as const;

export const queries = {
  batches: {
    state: { enum: ['queued', 'running', 'done', 'failed'] },
    pipeline: params.pipeline,
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: '1 to 1000; 50 by default' },
  },
  results: {
    cursor: { type: 'string', maxLength: 200 },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: '1 to 1000; 100 by default' },
  },
  dead: {
    limit: { type: 'string', pattern: '^[0-9]{1,5}$', description: 'batches looked at, 1 to 10000; 1000 by default' },
  },
} as const;

type Method = 'get' | 'post' | 'put';

/** One operation: what the document says of it, and what the route validates. */
export interface Operation {
  method: Method;
  /** OpenAPI form: `/v1/batches/{batch}`. */
  path: string;
  operationId: string;
  summary: string;
  scope: 'public' | 'read' | 'admin';
  params?: readonly (keyof typeof params)[];
  query?: Record<string, unknown>;
  body?: keyof typeof schemas;
  responses: Record<number, keyof typeof schemas | 'text' | 'empty'>;
}

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, 'Problem' as const]));
const READ_ERRORS = [400, 401, 404, 503];
const ADMIN_ERRORS = [400, 401, 403, 404, 413, 415, 503];

export const operations: readonly Operation[] = [
  { method: 'get', path: '/v1/openapi.json', operationId: 'openapi', summary: 'This document', scope: 'public', responses: { 200: 'text' } },
  {
    method: 'get',
    path: '/v1/pipelines',
    operationId: 'listPipelines',
    summary: 'Every pipeline: its controls, its intake queue, its work and workers',
    scope: 'read',
    responses: { 200: 'PipelineList', ...errors(401, 503) },
  },
  {
    method: 'get',
    path: '/v1/pipelines/{pipeline}',
    operationId: 'getPipeline',
    summary: 'One pipeline',
    scope: 'read',
    params: ['pipeline'],
    responses: { 200: 'Pipeline', ...errors(...READ_ERRORS) },
  },
  {
    method: 'post',
    path: '/v1/pipelines/{pipeline}/batches',
    operationId: 'submitBatch',
    summary: "Submit a batch (its input checked against the pipeline's schema)",
    scope: 'admin',
    params: ['pipeline'],
    body: 'SubmitBatch',
    responses: { 201: 'BatchStatus', ...errors(...ADMIN_ERRORS, 409, 422) },
  },
  {
    method: 'post',
    path: '/v1/pipelines/{pipeline}/jobs',
    operationId: 'addJobs',
    summary: 'Add single jobs (1 to 10,000 in one request)',
    scope: 'admin',
    params: ['pipeline'],
    body: 'AddJobs',
    responses: { 201: 'JobIds', ...errors(...ADMIN_ERRORS, 422) },
  },
  {
    method: 'post',
    path: '/v1/pipelines/{pipeline}/pause',
    operationId: 'pausePipeline',
    summary: 'Pause its dispatch (jobs out run on)',
    scope: 'admin',
    params: ['pipeline'],
    responses: { 200: 'Pipeline', ...errors(...ADMIN_ERRORS) },
  },
  {
    method: 'post',
    path: '/v1/pipelines/{pipeline}/resume',
    operationId: 'resumePipeline',
    summary: 'Resume its dispatch',
    scope: 'admin',
    params: ['pipeline'],
    responses: { 200: 'Pipeline', ...errors(...ADMIN_ERRORS) },
  },
  {
    method: 'put',
    path: '/v1/pipelines/{pipeline}/rate-limit',
    operationId: 'setRateLimit',
    summary: "Limit its jobs per second over all its ventilators (null: each ventilator's own)",
    scope: 'admin',
    params: ['pipeline'],
    body: 'RateLimit',
    responses: { 200: 'Pipeline', ...errors(...ADMIN_ERRORS) },
  },
  {
    method: 'get',
    path: '/v1/batches',
    operationId: 'listBatches',
    summary: 'The newest batches, newest first',
    scope: 'read',
    query: queries.batches,
    responses: { 200: 'BatchList', ...errors(400, 401, 503) },
  },
  {
    method: 'get',
    path: '/v1/batches/{batch}',
    operationId: 'getBatch',
    summary: 'One batch, its progress over time and its per-worker counts',
    scope: 'read',
    params: ['batch'],
    responses: { 200: 'BatchDetail', ...errors(...READ_ERRORS) },
  },
  {
    method: 'get',
    path: '/v1/batches/{batch}/results',
    operationId: 'getResults',
    summary: 'A page of its recorded results',
    scope: 'read',
    params: ['batch'],
    query: queries.results,
    responses: { 200: 'ResultsPage', ...errors(...READ_ERRORS) },
  },
  {
    method: 'post',
    path: '/v1/batches/{batch}/cancel',
    operationId: 'cancelBatch',
    summary: 'Cancel it: jobs not sent never are, running handlers are aborted',
    scope: 'admin',
    params: ['batch'],
    responses: { 200: 'Cancelled', ...errors(...ADMIN_ERRORS) },
  },
  {
    method: 'put',
    path: '/v1/batches/{batch}/priority',
    operationId: 'setBatchPriority',
    summary: "A queued batch's priority (1 the highest)",
    scope: 'admin',
    params: ['batch'],
    body: 'Priority',
    responses: { 200: 'BatchStatus', ...errors(...ADMIN_ERRORS, 409) },
  },
  {
    method: 'get',
    path: '/v1/batches/{batch}/dead',
    operationId: 'listBatchDeadLetters',
    summary: 'Its dead letters with their errors',
    scope: 'read',
    params: ['batch'],
    responses: { 200: 'DeadLetterList', ...errors(...READ_ERRORS) },
  },
  {
    method: 'post',
    path: '/v1/batches/{batch}/dead/retry',
    operationId: 'retryDeadLetters',
    summary: 'Send its dead letters (all, or these seqs) round again',
    scope: 'admin',
    params: ['batch'],
    body: 'Seqs',
    responses: { 200: 'Retried', ...errors(...ADMIN_ERRORS) },
  },
  {
    method: 'post',
    path: '/v1/batches/{batch}/dead/purge',
    operationId: 'purgeDeadLetters',
    summary: 'Forget its dead letters (all, or these seqs) for good',
    scope: 'admin',
    params: ['batch'],
    body: 'Seqs',
    responses: { 200: 'Purged', ...errors(...ADMIN_ERRORS) },
  },
  {
    method: 'get',
    path: '/v1/dead',
    operationId: 'listDeadLetters',
    summary: 'Dead letters of every batch',
    scope: 'read',
    query: queries.dead,
    responses: { 200: 'DeadLetterList', ...errors(400, 401, 503) },
  },
  {
    method: 'get',
    path: '/v1/jobs/{job}',
    operationId: 'getJob',
    summary: "A single job (or a batch's job, <batch>:<seq>)",
    scope: 'read',
    params: ['job'],
    responses: { 200: 'Job', ...errors(...READ_ERRORS) },
  },
  {
    method: 'post',
    path: '/v1/jobs/{job}/cancel',
    operationId: 'cancelJob',
    summary: 'Cancel one job',
    scope: 'admin',
    params: ['job'],
    responses: { 200: 'Cancelled', ...errors(...ADMIN_ERRORS) },
  },
  {
    method: 'get',
    path: '/v1/workers',
    operationId: 'listWorkers',
    summary: 'Connected workers and their load, from every ventilator',
    scope: 'read',
    responses: { 200: 'WorkerList', ...errors(401, 503) },
  },
  {
    method: 'get',
    path: '/v1/events',
    operationId: 'events',
    summary: 'Server-sent events: `batch` (a BatchStatus, as the sink reports progress), `workers` and `pipelines` (as their lists, every 2 s)',
    scope: 'read',
    responses: { 200: 'text', ...errors(401) },
  },
];

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  400: 'The request is malformed or a field is invalid',
  401: 'No valid bearer token',
  403: 'The token may only read',
  404: 'Not found',
  409: 'Conflict with its current state',
  413: 'The body is too large',
  415: 'The body is not JSON',
  422: 'The pipeline refuses the input',
  503: 'Redis does not answer',
};

/** The whole document, as served at /v1/openapi.json. */
export function openApiDocument(version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters = [
      ...(op.params ?? []).map((name) => ({ name, in: 'path', required: true, schema: params[name] })),
      ...Object.entries(op.query ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
    ];
    const responses = Object.fromEntries(
      Object.entries(op.responses).map(([status, shape]) => [
        status,
        {
          description: STATUS_TEXT[Number(status)] ?? 'Answer',
          ...(shape === 'empty'
            ? {}
            : shape === 'text'
              ? {
                  content:
                    op.operationId === 'events'
                      ? { 'text/event-stream': { schema: { type: 'string' } } }
                      : { 'application/json': { schema: { type: 'object' } } },
                }
              : { content: { [shape === 'Problem' ? 'application/problem+json' : 'application/json']: { schema: ref(shape) } } }),
        },
      ]),
    );
    (paths[op.path] ??= {})[op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.scope === 'public' ? { security: [] } : op.scope === 'admin' ? { security: [{ bearer: ['admin'] }] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: op.body !== 'Seqs', content: { 'application/json': { schema: ref(op.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'jobpipe console',
      version,
      description:
        "The operator's API of a jobpipe deployment: submit batches and single jobs, follow them, cancel, pause, set priorities and rate limits, handle dead letters, see workers and their load. Reads need a read or admin bearer token, everything else an admin token (a console without tokens listens on loopback only).",
    },
    servers: [{ url: '/' }],
    security: [{ bearer: ['read'] }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'JOBPIPE_CONSOLE_ADMIN_TOKENS or JOBPIPE_CONSOLE_READ_TOKENS' } },
    },
  };
}
