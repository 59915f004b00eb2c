import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { JobpipeClient } from '@jobpipe/intake';
import { isRedisConnectionError } from '@jobpipe/ledger';
import type { Logger } from '@jobpipe/observability';
import type { Pipeline } from '@jobpipe/pipeline';
import type { CurveClient } from '@jobpipe/transport';
import { addRoutes, addSchemas } from './api.js';
import { LiveEvents } from './live-events.js';
import { openApiDocument, type Operation } from './openapi.js';
import { fieldErrors, Problem, problemBody } from './problems.js';
import { ProgressBook } from './progress-book.js';
import type { TokenBook } from './tokens.js';
import { Views } from './views.js';

export interface ConsoleOptions {
  client: JobpipeClient;
  pipelines: readonly Pipeline[];
  tokens: TokenBook;
  host: string;
  port: number;
  maxBodyBytes: number;
  eventsConnect: string;
  curve?: CurveClient;
  logger: Logger;
  version: string;
}

const uiRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../ui');
/**
 * The front end's own modules, served from node_modules: the UI needs no CDN and works offline.
 * Resolved as ES modules by their packages' export maps (preact 11's files are `.mjs`).
 */
const VENDOR: Record<string, string> = {
  'preact.mjs': fileURLToPath(import.meta.resolve('preact')),
  'preact-hooks.mjs': fileURLToPath(import.meta.resolve('preact/hooks')),
  'htm.mjs': fileURLToPath(import.meta.resolve('htm')),
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** The console: the /v1 API, its live events and the web UI, on one HTTP port. */
/** How long a request may take to arrive, headers and body. */
const REQUEST_TIMEOUT_MS = 30_000;

export class Console {
  readonly app: FastifyInstance;
  readonly live: LiveEvents;
  #port = 0;

  constructor(private readonly o: ConsoleOptions) {
    const progress = new ProgressBook();
    const views = new Views(o.client, new Set(o.pipelines.map((pipeline) => pipeline.name)), progress);
    this.live = new LiveEvents(o.eventsConnect, views, progress, o.logger, o.curve);
    this.app = Fastify({
      bodyLimit: o.maxBodyBytes,
      // Ids travel in paths; a long one is refused by its pattern (a problem naming the field), not
      // by the router (Fastify's own 414). Node's headers, the URL with them, stop at 16 KiB.
      routerOptions: { maxParamLength: 16_384 },
      // A request must have arrived whole within this (Node's default is 5 minutes): a client that
      // announces a body and goes silent holds a connection no longer. Live events are a response.
      requestTimeout: REQUEST_TIMEOUT_MS,
      ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false } },
    });
    // Bodies are JSON only (the document says so): Fastify's own text parser would hand a text
    // body to the schema, which refuses it as a 400 for its type rather than a 415 for its media.
    this.app.removeContentTypeParser('text/plain');
    // Actions without a body (pause, cancel, purge) from clients that send a JSON content type
    // anyway: an empty body is no body, as for a request without the header.
    const parseJson = this.app.getDefaultJsonParser('error', 'error');
    this.app.removeContentTypeParser('application/json');
    this.app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
      body.length === 0 ? done(null, undefined) : parseJson(request, body.toString(), done),
    );
    this.#guard(this.app, o.tokens);
    this.#answerErrors(this.app);
    addSchemas(this.app);
    addRoutes(this.app, {
      client: o.client,
      pipelines: new Map(o.pipelines.map((pipeline) => [pipeline.name, pipeline])),
      views,
      live: this.live,
      progress,
      openApi: openApiDocument(o.version),
    });
    this.#serveUi(this.app);
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    await this.app.listen({ host: this.o.host, port: this.o.port });
    const address = this.app.server.address();
    this.#port = typeof address === 'object' && address ? address.port : this.o.port;
    this.live.start();
  }

  async stop(): Promise<void> {
    await this.live.stop();
    await this.app.close();
  }

  /** Every /v1 request but the document needs a token (when any is set): a read token for GET, an admin token for the rest. */
  #guard(app: FastifyInstance, tokens: TokenBook): void {
    app.addHook('onRequest', async (request, reply) => {
      const scope = (request.routeOptions.config as { scope?: Operation['scope'] }).scope;
      if (scope === undefined || scope === 'public') return;
      const given = tokens.scopeOf(request.headers.authorization);
      if (given === undefined) {
        reply.header('www-authenticate', 'Bearer realm="jobpipe"');
        throw new Problem(401, request.headers.authorization ? 'this bearer token is not known here' : 'send Authorization: Bearer <token>');
      }
      if (scope === 'admin' && given !== 'admin')
        throw new Problem(403, `${request.method} ${request.routeOptions.url} needs an admin token; this one may only read`);
    });
  }

  #answerErrors(app: FastifyInstance): void {
    app.setErrorHandler((error: FastifyError | Problem | Error, request, reply) => {
      const instance = request.url.split('?')[0]!;
      let status = 500;
      let detail = 'internal error: see the console log';
      let errors: ReturnType<typeof fieldErrors> | undefined;
      if (error instanceof Problem) {
        status = error.status;
        detail = error.detail;
        errors = error.errors ? [...error.errors] : undefined;
      } else if ('validation' in error && error.validation) {
        status = 400;
        errors = fieldErrors(error.validation as never, error.validationContext ?? 'body');
        detail = `invalid request: ${errors.map((each) => `${each.field} ${each.message}`).join('; ')}`;
      } else if ('statusCode' in error && typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
        status = error.statusCode;
        detail = describeClientError(error as FastifyError);
      } else if (error.name === 'SubmissionError') {
        status = /already exists/.test(error.message) ? 409 : /unknown/.test(error.message) ? 404 : 400;
        detail = error.message;
      } else if (isRedisConnectionError(error) || /Connection is closed|max retries|ECONNREFUSED|timed out/i.test(error.message)) {
        status = 503;
        detail = `Redis does not answer: ${error.message}`;
      } else {
        this.o.logger.error({ err: error, url: instance, method: request.method }, 'request failed');
      }
      reply
        .code(status)
        .type('application/problem+json')
        .send(problemBody(status, detail, instance, errors));
    });
    app.setNotFoundHandler((request, reply) => {
      const instance = request.url.split('?')[0]!;
      reply
        .code(404)
        .type('application/problem+json')
        .send(problemBody(404, `no ${request.method} ${instance} here: the API is under /v1 (its document: /v1/openapi.json), the UI at /`, instance));
    });
  }

  /** `/` and `/ui/<file>` from the ui folder, `/ui/vendor/<file>` from node_modules; nothing outside them. */
  #serveUi(app: FastifyInstance): void {
    const send = async (path: string, reply: import('fastify').FastifyReply) => {
      const body = await readFile(path).catch(() => undefined);
      if (!body) throw new Problem(404, 'no such file in the UI');
      const type = TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream';
      return reply.type(type).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(body);
    };
    app.get('/', async (_request, reply) => send(join(uiRoot, 'index.html'), reply));
    app.get('/ui/vendor/:file', async (request, reply) => {
      const target = VENDOR[(request.params as { file: string }).file];
      if (!target) throw new Problem(404, 'no such file in the UI');
      return send(target, reply);
    });
    app.get('/ui/*', async (request, reply) => {
      const relative = (request.params as { '*': string })['*'];
      // Names of the UI's own files only: no '..', no absolute path, no hidden file.
      if (!/^([A-Za-z0-9_-]+\/)*[A-Za-z0-9_.-]+\.[a-z]+$/.test(relative) || relative.split('/').some((part) => part.startsWith('.')))
        throw new Problem(404, 'no such file in the UI');
      return send(join(uiRoot, relative), reply);
    });
  }
}

function describeClientError(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `the body is not valid JSON: ${error.message}`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `the body is larger than JOBPIPE_CONSOLE_MAX_BODY_BYTES`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `send the body as application/json (${error.message})`;
    default:
      return error.message;
  }
}
