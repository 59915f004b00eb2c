import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkBatchId, SubmissionError, type BatchRequest, type JobpipeClient } from '@jobpipe/intake';
import { InputError, parseInput, type Pipeline } from '@jobpipe/pipeline';
import type { LiveEvents } from './live-events.js';
import { operations, params as paramSchemas, schemas, type Operation } from './openapi.js';
import { Problem } from './problems.js';
import type { ProgressBook } from './progress-book.js';
import type { BatchState, Views } from './views.js';

export interface ApiParts {
  client: JobpipeClient;
  pipelines: ReadonlyMap<string, Pipeline>;
  views: Views;
  live: LiveEvents;
  progress: ProgressBook;
  openApi: object;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** A request that Redis does not answer within this is a 503, not a hung client (the role's connection waits for Redis forever). */
const REDIS_ANSWER_MS = 5000;

function answerWithin(handler: Handler, ms: number): Handler {
  return (request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Problem(503, `Redis did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([handler(request, reply), late]).finally(() => clearTimeout(timer));
  };
}

/** The schemas the routes validate with: the document's own, refs resolved by Fastify's ajv. */
export function addSchemas(app: FastifyInstance): void {
  for (const [name, schema] of Object.entries(schemas)) app.addSchema({ $id: name, ...rewriteRefs(schema) });
}

/** `#/components/schemas/X` (the document's form) as `X#` (Fastify's shared schemas). */
function rewriteRefs(value: unknown): any {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        key,
        key === '$ref' && typeof inner === 'string' ? `${inner.replace('#/components/schemas/', '')}#` : rewriteRefs(inner),
      ]),
    );
  }
  return value;
}

/** Every route of the document, each with its request schemas and its handler. */
export function addRoutes(app: FastifyInstance, parts: ApiParts): void {
  const handlers = makeHandlers(parts);
  for (const op of operations) {
    const handler = handlers[op.operationId];
    if (!handler) throw new Error(`no handler for ${op.operationId}`);
    app.route({
      method: op.method.toUpperCase() as 'GET',
      url: op.path.replace(/\{(\w+)\}/g, ':$1'),
      schema: requestSchema(op),
      config: { scope: op.scope },
      // A body that may be left out (all dead letters) is an empty object when it is.
      ...(op.body === 'Seqs'
        ? {
            preValidation: async (request: FastifyRequest) => {
              if (request.body === undefined || request.body === null) request.body = {};
            },
          }
        : {}),
      handler: op.operationId === 'events' ? handler : answerWithin(handler, REDIS_ANSWER_MS),
    });
  }
}

function requestSchema(op: Operation) {
  return {
    ...(op.params
      ? {
          params: {
            type: 'object',
            required: [...op.params],
            properties: Object.fromEntries(op.params.map((name) => [name, paramSchemas[name]])),
          },
        }
      : {}),
    ...(op.query ? { querystring: { type: 'object', additionalProperties: false, properties: op.query } } : {}),
    ...(op.body ? { body: { $ref: `${op.body}#` } } : {}),
  };
}

function numberFrom(raw: string | undefined, fallback: number, min: number, max: number, field: string): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (value < min || value > max) throw new Problem(400, `${field} must be from ${min} to ${max}`, [{ field, message: `must be from ${min} to ${max}` }]);
  return value;
}

function makeHandlers({ client, pipelines, views, live, progress, openApi }: ApiParts): Record<string, Handler> {
  const servedPipeline = (name: string): Pipeline => {
    const pipeline = pipelines.get(name);
    if (!pipeline)
      throw new Problem(404, `pipeline ${name} is not one this console takes batches for (its JOBPIPE_PIPELINE has ${[...pipelines.keys()].join(', ')})`, [
        { field: 'path.pipeline', message: 'is not served here' },
      ]);
    return pipeline;
  };
  const unknownPipeline = (name: string) => new Problem(404, `pipeline ${name} is unknown`, [{ field: 'path.pipeline', message: 'is unknown' }]);
  const knownPipeline = async (name: string) => {
    const pipeline = await views.pipeline(name);
    if (!pipeline) throw unknownPipeline(name);
    return pipeline;
  };
  /** A control set on a known pipeline, then the pipeline as it is now. */
  const control = async (name: string, change: () => Promise<void>) => {
    if (!(await views.pipelineNames()).includes(name)) throw unknownPipeline(name);
    await change();
    return knownPipeline(name);
  };
  const knownBatch = async (batch: string) => {
    const info = await client.ledger.batchInfo(batch);
    if (!info) throw new Problem(404, `batch ${batch} is unknown, or its keys have expired`, [{ field: 'path.batch', message: 'is unknown' }]);
    return info;
  };
  const foundBatch = async (batch: string) => {
    const status = await views.batch(batch);
    if (!status) throw new Problem(404, `batch ${batch} is unknown`, [{ field: 'path.batch', message: 'is unknown' }]);
    return status;
  };
  type P = { pipeline: string; batch: string; job: string };
  const p = (request: FastifyRequest) => request.params as P;
  const q = (request: FastifyRequest) => request.query as Record<string, string | undefined>;

  return {
    openapi: async () => openApi,
    listPipelines: async () => ({ pipelines: await views.pipelines() }),
    getPipeline: async (request) => knownPipeline(p(request).pipeline),

    submitBatch: async (request, reply) => {
      const pipeline = servedPipeline(p(request).pipeline);
      const body = request.body as { input: unknown; batchId?: string; priority?: number; retention?: number; deadRetention?: number };
      if (body.batchId !== undefined) {
        try {
          checkBatchId(body.batchId);
        } catch (error) {
          throw new Problem(400, (error as Error).message, [{ field: 'batchId', message: (error as Error).message }]);
        }
      }
      // The input's failing fields, named, before anything is written.
      if (pipeline.input || pipeline.validate) {
        try {
          await parseInput(pipeline, body.input);
        } catch (error) {
          if (!(error instanceof InputError)) throw error;
          const fields = error.issues.map((issue) => ({ field: issue.path, message: issue.message }));
          throw new Problem(422, error.message, fields.length > 0 ? fields : [{ field: 'input', message: error.message }]);
        }
      }
      // The producer's trace context (W3C), as its HTTP client sent it: the batch's jobs join its trace.
      const { traceparent, tracestate } = request.headers;
      const batch = await client.submit(pipeline, body.input, {
        ...(body.batchId === undefined ? {} : { batchId: body.batchId }),
        ...(body.priority === undefined ? {} : { priority: body.priority }),
        ...(body.retention === undefined ? {} : { retentionMs: body.retention }),
        ...(body.deadRetention === undefined ? {} : { deadRetentionMs: body.deadRetention }),
        ...(typeof traceparent === 'string' ? { traceparent } : {}),
        ...(typeof tracestate === 'string' ? { tracestate } : {}),
      });
      live.batchChanged(batch);
      reply.code(201).header('location', `/v1/batches/${batch}`);
      return foundBatch(batch);
    },

    addJobs: async (request, reply) => {
      const pipeline = servedPipeline(p(request).pipeline);
      const { jobs } = request.body as { jobs: { payload: unknown; jobId?: string; priority?: number; delayMs?: number }[] };
      const ids = await client.addBulk(pipeline, jobs);
      reply.code(201);
      return { ids };
    },

    pausePipeline: async (request) => control(p(request).pipeline, () => client.pause(p(request).pipeline)),
    resumePipeline: async (request) => control(p(request).pipeline, () => client.resume(p(request).pipeline)),
    setRateLimit: async (request) => {
      const { jobsPerSecond } = request.body as { jobsPerSecond: number | null };
      return control(p(request).pipeline, () => client.setRateLimit(p(request).pipeline, jobsPerSecond ?? undefined));
    },

    listBatches: async (request) => {
      const { state, pipeline, limit } = q(request);
      return {
        batches: await views.batches({
          ...(pipeline ? { pipeline } : {}),
          ...(state ? { state: state as BatchState } : {}),
          limit: numberFrom(limit, 50, 1, 1000, 'query.limit'),
        }),
      };
    },
    getBatch: async (request) => {
      const status = await foundBatch(p(request).batch);
      const [perWorker, dead] = await Promise.all([client.ledger.workerCounts(status.batch), client.redis.hlen(client.ledger.keys.batch(status.batch).dead)]);
      const history = progress.history(status.batch);
      if (history.length === 0 || history.at(-1)!.done !== status.done) history.push({ at: Date.now(), done: status.done });
      return { ...status, history, perWorker: status.summary?.perWorker ?? perWorker, deadLetters: dead };
    },
    getResults: async (request) => {
      const { cursor, limit } = q(request);
      let page: Awaited<ReturnType<JobpipeClient['resultsPage']>>;
      try {
        page = await client.resultsPage(p(request).batch, cursor ?? '0', numberFrom(limit, 100, 1, 1000, 'query.limit'));
      } catch (error) {
        if (error instanceof TypeError)
          throw new Problem(400, `cursor ${JSON.stringify(cursor)} is not one this API gave`, [{ field: 'query.cursor', message: 'is not a cursor' }]);
        throw error;
      }
      if (!page) throw new Problem(404, `batch ${p(request).batch} is unknown, or its results have expired`, [{ field: 'path.batch', message: 'is unknown' }]);
      return { results: page.results.map(({ seq, valueJson }) => ({ seq, value: JSON.parse(valueJson) })), next: page.next };
    },
    cancelBatch: async (request) => {
      const status = await foundBatch(p(request).batch);
      const cancelled = await client.cancel(status.pipeline, status.batch);
      live.batchChanged(status.batch);
      return { cancelled, batch: await foundBatch(status.batch) };
    },
    setBatchPriority: async (request) => {
      const status = await foundBatch(p(request).batch);
      const { priority } = request.body as { priority: number };
      const job = await client.queue(status.pipeline).getJob(status.batch);
      const state = await job?.getState();
      if (!job || (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed'))
        throw new Problem(409, `batch ${status.batch} is ${status.state}: only a queued batch's priority can change`);
      // The request's copy first: the ventilator that takes the batch reads its priority there.
      await job.updateData({ ...(job.data as BatchRequest), priority });
      await job.changePriority({ priority });
      live.batchChanged(status.batch);
      return foundBatch(status.batch);
    },
    listBatchDeadLetters: async (request) => {
      await knownBatch(p(request).batch);
      return { deadLetters: await client.ledger.listDead(p(request).batch) };
    },
    retryDeadLetters: async (request) => {
      const info = await knownBatch(p(request).batch);
      const { seqs } = (request.body ?? {}) as { seqs?: number[] };
      const retried = await client.ledger.retryDead(info.batch, info.pipeline, seqs ?? []);
      live.batchChanged(info.batch);
      return { retried };
    },
    purgeDeadLetters: async (request) => {
      const info = await knownBatch(p(request).batch);
      const { seqs } = (request.body ?? {}) as { seqs?: number[] };
      const purged = await client.ledger.purgeDead(info.batch, seqs ?? []);
      live.batchChanged(info.batch);
      return { purged };
    },
    listDeadLetters: async (request) => {
      const batches = await client.ledger.listBatches(numberFrom(q(request).limit, 1000, 1, 10_000, 'query.limit'));
      const deadLetters = [];
      for (const batch of batches) deadLetters.push(...(await client.ledger.listDead(batch)));
      return { deadLetters };
    },

    getJob: async (request) => {
      const id = p(request).job;
      const job = await client.getJob(id);
      if (job) return job;
      throw new Problem(404, `job ${id} is unknown: no such job, or its retention is over`, [{ field: 'path.job', message: 'is unknown' }]);
    },
    cancelJob: async (request) => {
      try {
        return { cancelled: await client.cancelJob(p(request).job) };
      } catch (error) {
        if (error instanceof SubmissionError) throw new Problem(404, error.message, [{ field: 'path.job', message: 'is unknown' }]);
        throw error;
      }
    },

    listWorkers: async () => views.workers(),
    events: async (request, reply) => {
      reply.hijack();
      live.attach(reply.raw);
      request.raw.on('close', () => reply.raw.end());
    },
  };
}
