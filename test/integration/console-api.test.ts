/**
 * The console's HTTP API against a real Redis, real ventilator, sink and worker processes and the
 * console as its own process: every answer is checked against the OpenAPI 3.1 document the
 * console serves (its path, method, status and body), and every bad request is a problem-details
 * error that writes nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RoleProcess, type RedisServer } from '@jobpipe/launcher';
import { fixtures, keysOf, startDurable, startRedis, stopRedis, type Durable } from './durable-helpers.js';
import { Cleanup, command, echoPipeline, waitFor } from './helpers.js';

const ADMIN = 'admin-token-0123456789abcdef';
const READER = 'read-token-0123456789abcdef';
const durablePipeline = join(fixtures, 'durable.mjs');

// One stack for every test of the file (durableSuite's afterEach would stop it after the first).
const cleanup = new Cleanup();
const scratch = mkdtempSync(join(tmpdir(), 'jobpipe-console-api-'));
let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await cleanup.run();
  await stopRedis(server);
  rmSync(scratch, { recursive: true, force: true });
});

interface Call {
  status: number;
  body: any;
  headers: Headers;
}

/** The document's operations as matchers: `/v1/batches/{batch}` against a request path. */
function operationsOf(document: any) {
  return Object.entries(document.paths as Record<string, Record<string, any>>).map(([template, methods]) => ({
    pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
    template,
    methods,
  }));
}

describe('the console API', () => {
  let durable: Durable;
  let console: RoleProcess;
  let base: string;
  let document: any;
  let ajv: Ajv2020;
  let operations: ReturnType<typeof operationsOf>;
  const checked = new Set<string>();

  /** A request; its answer must be one the document describes for that path, method and status. */
  async function call(method: string, path: string, options: { token?: string | null; body?: unknown; raw?: string; type?: string } = {}): Promise<Call> {
    const token = options.token === undefined ? ADMIN : options.token;
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] = options.type ?? 'application/json';
    const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    const parsed = text === '' ? undefined : JSON.parse(text);
    const bare = path.split('?')[0]!;
    const operation = operations.find((each) => each.pattern.test(bare) && each.methods[method.toLowerCase()]);
    const status = String(response.status);
    if (operation) {
      const described = operation.methods[method.toLowerCase()].responses[status];
      expect(described, `${method} ${operation.template} answered ${status}, which the document does not list`).toBeDefined();
      const [type, media] = Object.entries(described.content ?? {})[0] as [string, { schema: object }];
      expect(response.headers.get('content-type') ?? '').toContain(type);
      const valid = ajv.validate(
        { $ref: `openapi.json#/paths/${pointer(operation.template)}/${method.toLowerCase()}/responses/${status}/content/${pointer(type)}/schema` },
        parsed,
      );
      expect(valid, `${method} ${path} ${status}: ${ajv.errorsText()} in ${text.slice(0, 500)}`).toBe(true);
      void media;
      checked.add(`${method} ${operation.template} ${status}`);
    } else {
      // Outside the document: only the not-found problem.
      expect(response.status).toBe(404);
      expect(parsed.status).toBe(404);
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  beforeAll(async () => {
    durable = await startDurable(cleanup, { server: server, pipeline: durablePipeline, workers: 1 });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const tokens = join(scratch, 'admin-tokens');
    writeFileSync(tokens, `${ADMIN}  the test\n`);
    console = new RoleProcess({
      role: 'console',
      command,
      metricsPort: await freePort(),
      env: {
        // The durable pipeline is served; echo is known to the console only (its batches stay queued).
        JOBPIPE_PIPELINE: `${durablePipeline},${echoPipeline}`,
        JOBPIPE_REDIS_URL: server.url,
        JOBPIPE_REDIS_PREFIX: durable.prefix,
        JOBPIPE_EVENTS_CONNECT: durable.stack.endpoints.eventsConnect,
        JOBPIPE_CONSOLE_PORT: String(port),
        JOBPIPE_CONSOLE_HOST: '127.0.0.1',
        JOBPIPE_CONSOLE_ADMIN_TOKENS_FILE: tokens,
        JOBPIPE_CONSOLE_READ_TOKENS: READER,
        JOBPIPE_CONSOLE_MAX_BODY_BYTES: '65536',
      },
    });
    cleanup.add('console', () => console.stop('SIGTERM', 5000).catch(() => console.child.kill('SIGKILL')));
    await console.ready;
    document = await (await fetch(`${base}/v1/openapi.json`)).json();
    ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema(document, 'openapi.json');
    operations = operationsOf(document);
  }, 60_000);

  afterAll(() => {
    // Which operations and statuses the tests saw, for whoever reads the log.
    process.stderr.write(`console API answers checked against the document: ${[...checked].sort().join(', ')}\n`);
  });

  it('serves a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(document.openapi).toBe('3.1.0');
    expect((await call('GET', '/v1/openapi.json', { token: null })).status).toBe(200);
  });

  it('submits a batch, follows it, pages its results and shows the workers', async () => {
    const submitted = await call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 30 }, batchId: 'api-1' } });
    expect(submitted.status).toBe(201);
    expect(submitted.headers.get('location')).toBe('/v1/batches/api-1');
    expect(submitted.body.batch).toBe('api-1');
    await durable.done('api-1');
    const detail = await call('GET', '/v1/batches/api-1', { token: READER });
    expect(detail.body).toMatchObject({ state: 'done', done: 30, total: 30, failed: 0 });
    expect(Object.values(detail.body.perWorker as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(30);
    expect(detail.body.history.at(-1).done).toBe(30);

    const seqs: number[] = [];
    let cursor: string | null = '0';
    while (cursor !== null) {
      const page = await call('GET', `/v1/batches/api-1/results?limit=7&cursor=${cursor}`, { token: READER });
      seqs.push(...page.body.results.map((result: { seq: number; value: { i: number } }) => result.value.i));
      cursor = page.body.next;
    }
    expect(seqs.sort((a, b) => a - b)).toEqual([...Array(30).keys()]);

    const list = await call('GET', '/v1/batches?state=done&limit=10', { token: READER });
    expect(list.body.batches.map((batch: { batch: string }) => batch.batch)).toContain('api-1');
    const job = await call('GET', '/v1/jobs/api-1:4', { token: READER });
    expect(job.body).toMatchObject({ id: 'api-1:4', state: 'done', value: { i: 4 } });

    const workers = await waitFor('a worker on the board', async () => {
      const answer = await call('GET', '/v1/workers', { token: READER });
      return answer.body.workers.length === 1 && answer.body.workers[0].sent >= 30 && answer.body;
    });
    expect(workers.workers[0]).toMatchObject({ pipeline: 'durable', held: 0 });
    expect(workers.workers[0].sent).toBeGreaterThanOrEqual(30);
    const pipelines = await call('GET', '/v1/pipelines', { token: READER });
    const names = pipelines.body.pipelines.map((pipeline: { name: string }) => pipeline.name);
    expect(names).toEqual(['durable', 'echo']);
    expect(pipelines.body.pipelines[0]).toMatchObject({ accepting: true, workers: 1, queue: { completed: 1 } });
  });

  it('passes the sink batch events on to every browser as server-sent events', async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${READER}` }, signal: controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const seen: { event: string; data: any }[] = [];
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
        let end = text.indexOf('\n\n');
        while (end >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (event && data) seen.push({ event, data: JSON.parse(data) });
          end = text.indexOf('\n\n');
        }
      }
    })().catch(() => {});
    await call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 40, workMs: 25 }, batchId: 'api-live' } });
    const updates = await waitFor('the batch done on the event stream', () => {
      const mine = seen.filter((each) => each.event === 'batch' && each.data.batch === 'api-live');
      return mine.some((each) => each.data.state === 'done') && mine;
    });
    // Progress came as it happened, not only at the end.
    expect(updates.some((each) => each.data.state === 'running' && each.data.done > 0 && each.data.done < 40)).toBe(true);
    expect(seen.some((each) => each.event === 'workers')).toBe(true);
    expect(seen.some((each) => each.event === 'pipelines')).toBe(true);
    controller.abort();
    await reading;
  });

  it('pauses, resumes, limits a pipeline and changes a queued batch priority', async () => {
    expect((await call('POST', '/v1/pipelines/durable/pause')).body.paused).toBe(true);
    expect((await call('POST', '/v1/pipelines/durable/resume')).body.paused).toBe(false);
    // Many HTTP clients send a JSON content type with no body: no body all the same.
    expect((await call('POST', '/v1/pipelines/durable/pause', { raw: '', type: 'application/json' })).body.paused).toBe(true);
    expect((await call('POST', '/v1/pipelines/durable/resume', { raw: '', type: 'application/json' })).body.paused).toBe(false);
    expect((await call('PUT', '/v1/pipelines/durable/rate-limit', { body: { jobsPerSecond: 500 } })).body.rateLimit).toBe(500);
    expect((await call('PUT', '/v1/pipelines/durable/rate-limit', { body: { jobsPerSecond: null } })).body.rateLimit).toBe(null);
    // No ventilator serves echo: its batch stays queued.
    expect((await call('POST', '/v1/pipelines/echo/batches', { body: { input: { jobs: 3 }, batchId: 'api-queued' } })).status).toBe(201);
    const changed = await call('PUT', '/v1/batches/api-queued/priority', { body: { priority: 3 } });
    expect(changed.body.state).toBe('queued');
    expect(
      await durable.client
        .queue('echo')
        .getJob('api-queued')
        .then((job) => job?.priority),
    ).toBe(3);
    const late = await call('PUT', '/v1/batches/api-1/priority', { body: { priority: 3 } });
    expect(late.status).toBe(409);
    const cancelled = await call('POST', '/v1/batches/api-queued/cancel');
    expect(cancelled.body.cancelled).toBe(true);
    expect((await call('POST', '/v1/batches/api-queued/cancel')).body.cancelled).toBe(false);
  });

  it('lists, retries and purges dead letters', async () => {
    const marker = join(scratch, 'failing');
    writeFileSync(marker, '');
    await call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 6, failWhile: { marker, seqs: [1, 4] } }, batchId: 'api-dead' } });
    const done = await durable.done('api-dead');
    expect(done.failed).toBe(2);
    const dead = await call('GET', '/v1/batches/api-dead/dead', { token: READER });
    expect(dead.body.deadLetters.map((letter: { seq: number }) => letter.seq).sort()).toEqual([1, 4]);
    expect(dead.body.deadLetters[0].error.message).toContain('fails while');
    expect((await call('GET', '/v1/dead', { token: READER })).body.deadLetters.length).toBeGreaterThanOrEqual(2);
    rmSync(marker);
    expect((await call('POST', '/v1/batches/api-dead/dead/retry', { body: { seqs: [1] } })).body.retried).toBe(1);
    await waitFor('the retried job recorded', async () => (await call('GET', '/v1/jobs/api-dead:1', { token: READER })).body.state === 'done');
    expect((await call('POST', '/v1/batches/api-dead/dead/purge')).body.purged).toBe(1);
    expect((await call('GET', '/v1/batches/api-dead/dead', { token: READER })).body.deadLetters).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('adds single jobs and reads them back', async () => {
    const added = await call('POST', '/v1/pipelines/durable/jobs', { body: { jobs: [{ payload: { i: 7 } }, { payload: { i: 8 }, jobId: 'once' }] } });
    expect(added.status).toBe(201);
    expect(added.body.ids).toHaveLength(2);
    for (const id of added.body.ids) {
      const job = await waitFor(`job ${id} done`, async () => {
        const answer = await call('GET', `/v1/jobs/${encodeURIComponent(id)}`, { token: READER });
        return answer.body.state === 'done' && answer.body;
      });
      expect(job.pipeline).toBe('durable');
    }
    // A job's bucket (the id before its ':') is a batch to the API: its status and its results.
    const bucket = added.body.ids[0].slice(0, added.body.ids[0].lastIndexOf(':'));
    expect(bucket).toMatch(/^durable~/);
    const status = await call('GET', `/v1/batches/${bucket}`, { token: READER });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ batch: bucket, pipeline: 'durable' });
    const results = await call('GET', `/v1/batches/${bucket}/results`, { token: READER });
    expect(results.status).toBe(200);
    expect(results.body.results.length).toBeGreaterThan(0);
  });

  it('answers every bad request with problem details, and writes nothing', async () => {
    // Keys that change on their own meanwhile (ventilators' boards, buckets of single jobs closing,
    // and BullMQ's stalled-check marker, which expires and is set again every few seconds) are left out.
    const stable = async () =>
      (await keysOf(durable.redis, durable.prefix)).filter((key) => !key.includes(':board') && !key.includes('~') && !key.endsWith(':stalled-check')).sort();
    const before = await stable();
    const queued = await durable.client.queue('durable').getJobCounts();
    const cases: [string, Promise<Call>, number, string?][] = [
      ['malformed JSON', call('POST', '/v1/pipelines/durable/batches', { raw: '{"input": {"jobs": 3' }), 400],
      ['a body that is not JSON', call('POST', '/v1/pipelines/durable/batches', { raw: 'jobs=3', type: 'application/x-www-form-urlencoded' }), 415],
      ['a body of text', call('POST', '/v1/pipelines/durable/batches', { raw: '{"input": {}}', type: 'text/plain' }), 415],
      ['a wrong type', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 3 }, priority: 'high' } }), 400, 'priority'],
      ['a field out of range', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 3 }, priority: 0 } }), 400, 'priority'],
      ['an unknown field', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 3 }, priorty: 2 } }), 400, 'priorty'],
      ['no input', call('POST', '/v1/pipelines/durable/batches', { body: { batchId: 'x' } }), 400, 'input'],
      ['an input the pipeline refuses', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: -1 } } }), 422],
      ['an oversized body', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 1, pad: 'x'.repeat(70_000) } } }), 413],
      ['an unknown pipeline', call('POST', '/v1/pipelines/nosuch/batches', { body: { input: {} } }), 404, 'path.pipeline'],
      ['no token', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 1 } }, token: null }), 401],
      ['an unknown token', call('GET', '/v1/batches', { token: 'not-a-token-of-this-console' }), 401],
      ['a read token on an admin action', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 1 } }, token: READER }), 403],
      ['a read token cancelling', call('POST', '/v1/batches/api-1/cancel', { token: READER }), 403],
      ['path traversal in a batch id', call('GET', '/v1/batches/..%2F..%2Fetc%2Fpasswd', { token: READER }), 400, 'path.batch'],
      ['path traversal in a job id', call('GET', '/v1/jobs/..%2F..%2Fetc', { token: READER }), 400, 'path.job'],
      ['a batch id of dots only', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 1 }, batchId: '..' } }), 400, 'batchId'],
      // (`.` and `..` never arrive: a client's URL parser takes them for path steps.)
      ['a batch id of dots only in a path', call('GET', '/v1/batches/...', { token: READER }), 400, 'path.batch'],
      ['a batch id of 1,000 characters in a path', call('GET', `/v1/batches/${'a'.repeat(1000)}`, { token: READER }), 400, 'path.batch'],
      ['path traversal in the UI', call('GET', '/ui/..%2F..%2Fpackage.json', { token: null }), 404],
      ['an unknown batch', call('GET', '/v1/batches/no-such-batch', { token: READER }), 404, 'path.batch'],
      ['a bad query', call('GET', '/v1/batches?limit=0', { token: READER }), 400, 'query.limit'],
      ['an unknown state', call('GET', '/v1/batches?state=lost', { token: READER }), 400, 'query.state'],
      ['a bad cursor', call('GET', '/v1/batches/api-1/results?cursor=zz', { token: READER }), 400, 'query.cursor'],
      [
        'a body of 10,001 jobs, above the body limit',
        call('POST', '/v1/pipelines/durable/jobs', { body: { jobs: Array.from({ length: 10_001 }, () => ({ payload: 1 })) } }),
        413,
      ],
      ['a job without a payload', call('POST', '/v1/pipelines/durable/jobs', { body: { jobs: [{ payload: 1 }, { priority: 2 }] } }), 400, 'jobs[1].payload'],
      ['a taken batch id', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 1 }, batchId: 'api-1' } }), 409],
      ['a batch id the ledger refuses', call('POST', '/v1/pipelines/durable/batches', { body: { input: { jobs: 1 }, batchId: 'wait' } }), 400, 'batchId'],
      ['a negative seq to retry', call('POST', '/v1/batches/api-1/dead/retry', { body: { seqs: [-1] } }), 400, 'seqs[0]'],
      ['an unknown path', call('GET', '/v1/nothing', { token: READER }), 404],
    ];
    const seen: string[] = [];
    for (const [what, answer, status, field] of cases) {
      const { status: got, body, headers } = await answer;
      seen.push(`${what}: ${got}`);
      expect(got, what).toBe(status);
      expect(headers.get('content-type'), what).toContain('application/problem+json');
      expect(body, what).toMatchObject({ status, title: expect.any(String), detail: expect.any(String), type: expect.stringMatching(/^urn:jobpipe:problem:/) });
      if (field)
        expect(
          body.errors?.map((error: { field: string }) => error.field),
          `${what}: ${JSON.stringify(body)}`,
        ).toContain(field);
    }
    process.stderr.write(`bad requests and their answers: ${seen.join('; ')}\n`);
    // Nothing written: the same keys, the same queue.
    expect(await stable()).toEqual(before);
    expect(await durable.client.queue('durable').getJobCounts()).toEqual(queued);
  });
});

describe('a console without tokens', () => {
  it('listens on loopback only, and says so; asked for another address, it refuses to start', async () => {
    const port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      JOBPIPE_PIPELINE: echoPipeline,
      JOBPIPE_REDIS_URL: server.url,
      JOBPIPE_CONSOLE_PORT: String(port),
      JOBPIPE_METRICS_PORT: '0',
    };
    for (const name of Object.keys(env)) if (name.startsWith('JOBPIPE_CONSOLE_') && name !== 'JOBPIPE_CONSOLE_PORT') delete env[name];
    const refused = spawn(command[0]!, [...command.slice(1), 'console'], { env: { ...env, JOBPIPE_CONSOLE_HOST: '0.0.0.0' } });
    let stderr = '';
    refused.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => refused.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/JOBPIPE_CONSOLE_HOST.*not a loopback address.*JOBPIPE_CONSOLE_ADMIN_TOKENS/);
    // With a token, a host that is not this machine's is named as the host, not as the port.
    const elsewhere = spawn(command[0]!, [...command.slice(1), 'console'], {
      env: { ...env, JOBPIPE_CONSOLE_HOST: '192.0.2.1', JOBPIPE_CONSOLE_ADMIN_TOKENS: 'a'.repeat(40) },
    });
    let elsewhereErr = '';
    elsewhere.stderr.on('data', (chunk) => (elsewhereErr += chunk));
    expect(await new Promise((resolve) => elsewhere.on('exit', resolve))).toBe(2);
    expect(elsewhereErr).toMatch(/^jobpipe: JOBPIPE_CONSOLE_HOST \(--console-host\): 192\.0\.2\.1 port \d+ is not an address of this machine/);
    // One token listed as admin and as read: which scope was meant is not for the console to guess.
    const shared = 'b'.repeat(40);
    const twice = spawn(command[0]!, [...command.slice(1), 'console'], {
      env: { ...env, JOBPIPE_CONSOLE_ADMIN_TOKENS: `${'a'.repeat(40)},${shared}`, JOBPIPE_CONSOLE_READ_TOKENS: `${'c'.repeat(40)}\n${shared}  ci-bot` },
    });
    let twiceErr = '';
    twice.stderr.on('data', (chunk) => (twiceErr += chunk));
    expect(await new Promise((resolve) => twice.on('exit', resolve))).toBe(2);
    expect(twiceErr).toMatch(/^jobpipe: read token 2 of JOBPIPE_CONSOLE_READ_TOKENS is also in JOBPIPE_CONSOLE_ADMIN_TOKENS; a token has one scope/);
    expect(twiceErr).not.toContain(shared);

    const open = new RoleProcess({ role: 'console', command, metricsPort: await freePort(), env });
    cleanup.add('open console', () => open.stop('SIGTERM', 5000).catch(() => open.child.kill('SIGKILL')));
    await open.ready;
    const ready = open.logs('ready')[0]!;
    expect(ready.url).toBe(`http://127.0.0.1:${port}/`);
    expect(String(ready.auth)).toContain('loopback only');
    const answer = await fetch(`http://127.0.0.1:${port}/v1/pipelines`);
    expect(answer.status).toBe(200);
  });
});

/** A JSON pointer's escaping of one reference token. */
function pointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
