/**
 * Helpers for the durable-mode integration tests (durable-*.test.ts): a redis-server of the test's
 * own, stacks whose roles all use it, a submitting client, and hand-made peers (a fake worker, a
 * raw results pusher) that speak the wire protocol directly.
 *
 * Every test uses its own key prefix, so tests that share one redis-server never see each other's
 * keys; nothing here ever touches a Redis it did not start.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { Dealer, Push } from 'zeromq';
import type { Redis, RedisOptions } from 'ioredis';
import { freePort, RedisServer, Stack, type RoleProcess, type StackOptions } from '@jobpipe/launcher';
import { JobpipeClient } from '@jobpipe/intake';
import { connectRedis, type RedisLedger } from '@jobpipe/ledger';
import { loadPipeline, type Pipeline } from '@jobpipe/pipeline';
import { decode, encode, type BatchSummary, type Job, type JobResult } from '@jobpipe/protocol';
import { Cleanup, command, hostSettingsBlanked, repoRoot, scrape, within } from './helpers.js';

export const fixtures = resolve(repoRoot, 'test/integration/fixtures');
/** Test pipelines (see fixtures/behaviours.mjs): retries 0, 2 (200 ms backoff), 10 (100 ms). */
export const durablePipeline = resolve(fixtures, 'durable.mjs');
export const flakyPipeline = resolve(fixtures, 'flaky.mjs');
export const persistentPipeline = resolve(fixtures, 'persistent.mjs');
export const notAPipeline = resolve(fixtures, 'not-a-pipeline.mjs');

// ---------------------------------------------------------------------------------------------
// Redis

const liveServers = new Set<RedisServer>();
let exitHook = false;

/**
 * Starts a redis-server of our own (free port, temporary directory, AOF on). Killed with this
 * process at the latest, so a crashed test run leaves no server behind; call `stopRedis` normally.
 */
export async function startRedis(): Promise<RedisServer> {
  if (!exitHook) {
    exitHook = true;
    // kill() signals synchronously before its first await: enough in an exit handler.
    process.once('exit', () => {
      for (const server of liveServers) void server.kill('SIGKILL');
    });
  }
  const server = await retryOnPortClash('starting redis-server', () => RedisServer.start());
  liveServers.add(server);
  return server;
}

/**
 * Runs `start` again (3 tries in all) when it failed for a port taken meanwhile: the launcher
 * picks ports that were free a moment ago, and on a busy machine another process can take one
 * before ours binds it. A redis-server that "exited at start" is such a case too (it prints
 * nothing: its output is ignored).
 */
async function retryOnPortClash<T>(what: string, start: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const message = String((error as Error)?.message ?? error);
      if (attempt >= tries || !/address already in use|EADDRINUSE|exited at start/i.test(message)) throw error;
      console.warn(`${what}: a port was taken meanwhile (${message.split('\n')[0]}); trying again`);
    }
  }
}

export async function stopRedis(server: RedisServer | undefined): Promise<void> {
  if (!server) return;
  liveServers.delete(server);
  await server.stop();
}

/**
 * What a durable test file sets up: a redis-server of its own for all its tests, a Cleanup run
 * after each test, and a scratch directory, all removed after the last test.
 */
export function durableSuite(tag: string): { cleanup: Cleanup; scratch: string; readonly server: RedisServer } {
  const cleanup = new Cleanup();
  const scratch = mkdtempSync(join(tmpdir(), `jobpipe-${tag}-`));
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(() => cleanup.run());
  afterAll(async () => {
    await cleanup.run();
    await stopRedis(server);
    rmSync(scratch, { recursive: true, force: true });
  });
  return {
    cleanup,
    scratch,
    get server() {
      if (!server) throw new Error('the redis-server starts in beforeAll');
      return server;
    },
  };
}

/** A key prefix no other test uses. */
export function uniquePrefix(tag: string): string {
  return `jt-${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Every key of `prefix` (SCAN, never KEYS). */
export function keysOf(redis: Redis, prefix: string): Promise<string[]> {
  return scanKeys(redis, `${prefix}:*`);
}

/** Every key matching `pattern` (SCAN, never KEYS), sorted. */
export async function scanKeys(redis: Redis, pattern = '*'): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}

// ---------------------------------------------------------------------------------------------
// A durable stack

export interface DurableOptions {
  server: RedisServer;
  /** The Redis URL the roles get, when not the server's own (e.g. a proxy in front of it). */
  rolesRedisUrl?: string;
  /** Options of the test's own client on top of the server's URL (e.g. the CA of a TLS server). */
  clientOptions?: RedisOptions;
  pipeline: string;
  /** Key prefix; a fresh one by default. */
  prefix?: string;
  workers?: number;
  /** Start the ventilator. @default true */
  ventilator?: boolean;
  /** Environment of every role. */
  env?: Record<string, string>;
  workerEnv?: (index: number) => Record<string, string>;
  ventilatorEnv?: Record<string, string>;
}

export interface Durable {
  stack: Stack;
  prefix: string;
  /** The test's own client of the server (commands queue while it is down). */
  redis: Redis;
  client: JobpipeClient;
  ledger: RedisLedger;
  /** The pipeline module, loaded in the test process (for submit and waitForBatch). */
  pipeline: Pipeline;
  /** Starts a ventilator (again) with the stack's settings. */
  startVentilator(extraEnv?: Record<string, string>): Promise<RoleProcess>;
  /** Submits a batch through the intake queue. */
  submit(input: unknown, batchId: string): Promise<string>;
  /** Waits for the batch to be done (polling the ledger) and returns its summary. */
  done(batchId: string, timeoutMs?: number): Promise<BatchSummary>;
}

/**
 * Starts a sink, a ventilator (unless `ventilator: false`) and `workers` workers, in that order
 * (workers connect to an endpoint already bound, so none joins late), every one with
 * JOBPIPE_REDIS_URL and a prefix of its own. Everything is stopped by `cleanup`.
 */
export async function startDurable(cleanup: Cleanup, options: DurableOptions): Promise<Durable> {
  const prefix = options.prefix ?? uniquePrefix('t');
  const redis = connectRedis(options.server.url, options.clientOptions);
  redis.on('error', () => {});
  const client = new JobpipeClient(redis, prefix);
  cleanup.add('redis client', async () => {
    await client.close().catch(() => {});
    redis.disconnect();
  });
  const stackOptions: StackOptions = {
    command,
    pipeline: options.pipeline,
    workers: 0,
    startVentilator: false,
    env: {
      // None of the host's JOBPIPE_* settings (a developer's JOBPIPE_LEASE_MS, say) leak in.
      ...hostSettingsBlanked(),
      JOBPIPE_REDIS_URL: options.rolesRedisUrl ?? options.server.url,
      JOBPIPE_REDIS_PREFIX: prefix,
      JOBPIPE_LOG_LEVEL: 'info',
      ...options.env,
    },
    ...(options.workerEnv ? { workerEnv: options.workerEnv } : {}),
    ...(options.ventilatorEnv ? { ventilatorEnv: options.ventilatorEnv } : {}),
  };
  const stack = await retryOnPortClash('starting a durable stack', async () => {
    const stack = cleanup.stack(await Stack.start(stackOptions));
    try {
      if (options.ventilator ?? true) await stack.startVentilator();
      for (let i = 0; i < (options.workers ?? 0); i++) await stack.addWorker();
      await Promise.all(stack.workers.map((worker) => worker.ready));
    } catch (error) {
      stack.killNow();
      throw error;
    }
    return stack;
  });
  const pipeline = await loadPipeline(options.pipeline);
  // BullMQ prints connection errors of a queue nobody listens to (the Redis restart test).
  client.queue(pipeline.name).on('error', () => {});
  return {
    stack,
    prefix,
    redis,
    client,
    ledger: client.ledger,
    pipeline,
    startVentilator: (extraEnv = {}) => stack.startVentilator(extraEnv),
    submit: (input, batchId) => client.submit(pipeline, input, { batchId }),
    done: async (batchId, timeoutMs = 30_000) => {
      try {
        return await within(`batch ${batchId} done`, timeoutMs, client.waitForBatch(pipeline.name, batchId, undefined, 100));
      } catch (error) {
        // Where it stands, for the failure message.
        const keys = client.ledger.keys.batch(batchId);
        const state = await within(
          'reading the ledger',
          5000,
          Promise.all([client.status(pipeline.name, batchId), redis.hkeys(keys.inflight), redis.zrange(keys.leases, '0', '9', 'WITHSCORES')]),
        ).catch((e: Error) => e.message);
        throw new Error(`${(error as Error).message}; ledger: ${JSON.stringify(state)}; now ${Date.now()}`);
      }
    },
  };
}

/** A counter or gauge of a role's /metrics (0 when it has no sample yet). */
export async function metric(role: RoleProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrape(role.url('/metrics'), name, labels)) ?? 0;
}

/** The HTTP status of a role's /readyz (0 when it does not answer). */
export async function readyz(role: RoleProcess): Promise<number> {
  try {
    const response = await fetch(role.url('/readyz'), { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-made peers

/** Serializes sends on a zeromq socket (one pending send at a time: zeromq.js allows no more). */
class Serial {
  #chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly socket: { send(frame: Buffer): Promise<void> }) {}
  send(frame: Buffer): Promise<void> {
    const next = this.#chain.then(() => this.socket.send(frame));
    this.#chain = next.catch(() => {});
    return next;
  }
}

export interface ReceivedJob extends Job {
  /** When the fake worker had it (epoch ms). */
  receivedAt: number;
}

/**
 * A worker made by hand: a DEALER that grants credit (and repeats it as its heartbeat) and keeps
 * the jobs it receives without running them. `onJobs` runs as each Jobs message arrives, before
 * the next is read.
 */
export class FakeWorker {
  readonly jobs: ReceivedJob[] = [];
  readonly #socket: Dealer;
  readonly #sender: Serial;
  readonly #timer: NodeJS.Timeout;
  readonly #loop: Promise<void>;
  #granted = 0;

  constructor(
    endpoint: string,
    readonly id: string,
    onJobs: (jobs: ReceivedJob[]) => void | Promise<void> = () => {},
  ) {
    const socket = new Dealer({ routingId: `${id}-${process.pid}-${randomBytes(3).toString('hex')}`, linger: 0 });
    this.#socket = socket;
    socket.connect(endpoint);
    this.#sender = new Serial(socket);
    this.#timer = setInterval(() => void this.#credit().catch(() => {}), 300);
    this.#loop = (async () => {
      try {
        for await (const [frame] of socket) {
          const receivedAt = Date.now();
          const decoded = decode(frame!, { accept: ['Jobs', 'Drained'] });
          if (!decoded.ok || decoded.message.type !== 'Jobs') continue;
          const jobs = decoded.message.jobs.map((job) => ({ ...job, receivedAt }));
          await onJobs(jobs);
          this.jobs.push(...jobs);
        }
      } catch {
        // closed
      }
    })();
  }

  /** Allows the ventilator `count` more jobs. */
  grant(count: number): Promise<void> {
    this.#granted += count;
    return this.#credit();
  }

  #credit(): Promise<void> {
    return this.#sender.send(encode({ type: 'Credit', worker: this.id, granted: this.#granted, received: this.jobs.length }));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#socket.close();
    await this.#loop;
  }
}

/** A PUSH connected to the sink's results endpoint, as a worker's is. */
export class ResultsPusher {
  readonly #socket: Push;
  readonly #sender: Serial;

  constructor(
    endpoint: string,
    readonly pipeline: string,
    readonly worker: string,
  ) {
    this.#socket = new Push({ linger: 1000 });
    this.#socket.connect(endpoint);
    this.#sender = new Serial(this.#socket);
  }

  send(results: JobResult[]): Promise<void> {
    return this.#sender.send(encode({ type: 'Results', pipeline: this.pipeline, worker: this.worker, results }));
  }

  close(): void {
    this.#socket.close();
  }
}

/** A successful result for a job as the fake worker received it. */
export function okResult(job: Job, value: unknown): JobResult {
  return { batch: job.batch, seq: job.seq, attempt: job.attempt, dispatchedAt: job.dispatchedAt, durationMs: 1, ok: true, value };
}

/**
 * A TCP proxy in front of a redis-server that cuts the connection, once, instead of passing on
 * the first reply matching `pattern` (RESP2 text): the command ran in Redis, its caller never
 * hears so and (ioredis) sends it again on the next connection.
 */
export class ReplyDropper {
  dropped = 0;
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(redisPort: number, pattern: RegExp): Promise<ReplyDropper> {
    const port = await freePort();
    let dropper: ReplyDropper | undefined;
    const server = createServer((client) => {
      const upstream = connect(redisPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        dropper!.#sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          dropper!.#sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => {
        if (dropper!.dropped === 0 && pattern.test(chunk.toString('latin1'))) {
          dropper!.dropped++;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(chunk);
      });
    });
    dropper = new ReplyDropper(server, port);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return dropper;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  close(): void {
    this.server.close();
    for (const socket of this.#sockets) socket.destroy();
  }
}

/** One run of a fixture pipeline's handler, as it logs it (see fixtures/behaviours.mjs). */
export interface Execution {
  seq: number;
  attempt: number;
  at: number;
  pid: number;
}

/** The handler runs a fixture pipeline logged to `log` (JSON lines), none when it has no log yet. */
export function readExecutions(log: string): Execution[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Execution);
}
