/**
 * Shared helpers for the integration tests: paths, a Prometheus text scraper, polling, running the
 * CLI as a child process, and cleanup that leaves no process or socket behind, even when a test
 * fails or times out.
 *
 * Every test file creates one `Cleanup` and calls `cleanup.run()` in afterEach (and afterAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { onTestFailed } from 'vitest';
import { metricValue } from '@jobpipe/observability';
import { BatchEvents, Stack, type ProgressEvent, type RoleProcess, type StackOptions } from '@jobpipe/launcher';
import type { CurveClient } from '@jobpipe/transport';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The bin that npm links as `jobpipe` (node_modules/.bin/jobpipe): tests run the CLI as users do. */
export const cliPath = resolve(repoRoot, 'cli/bin/jobpipe.js');
export const echoPipeline = resolve(repoRoot, 'examples/echo/dist/pipeline.js');
export const primesPipeline = resolve(repoRoot, 'examples/primes/dist/pipeline.js');
export const primesModule = resolve(repoRoot, 'examples/primes/dist/primes.js');
/** What Stack.start and RoleProcess take as `command`. */
export const command = [process.execPath, cliPath];

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Prometheus text format: the project's own reader, under the names the tests use.

export { parsePrometheusText as parseMetrics, metricValue } from '@jobpipe/observability';
export type { Sample } from '@jobpipe/observability';

/** Fetches `url` (a /metrics endpoint) and returns metricValue(name, labels) of it. */
export async function scrape(url: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return metricValue(await fetchText(url), name, labels);
}

/**
 * GETs `url`. A failed connection is tried once more: a kept-alive socket the server closed a
 * moment before (its keep-alive timeout racing the client's idle timer) fails a GET by itself.
 */
export async function fetchText(url: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    if ((error as Error).name !== 'TypeError') throw error;
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  }
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.text();
}

// ---------------------------------------------------------------------------------------------
// Polling

/**
 * Polls `probe` until it returns something other than undefined/false, and returns that; throws
 * with `what` and the last value/error after `timeoutMs`. For conditions that become true
 * eventually: the timeout is a generous upper bound, never what the test measures.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : String(last)})`);
    await sleep(intervalMs);
  }
}

/**
 * Waits until `role` has exited and everything it printed has been read: RoleProcess.exited
 * resolves on the child's 'exit', which can come before the last lines on its stdout pipe have
 * been read, so `logs()` right after `exited` may miss the last lines.
 */
export async function outputComplete(role: RoleProcess): Promise<void> {
  await role.exited;
  const stdout = role.child.stdout!;
  if (!stdout.readableEnded && !stdout.destroyed) await new Promise((resolve) => stdout.once('close', resolve));
}

/**
 * `role`'s log lines with message `msg`, once there are at least `count` of them. A process's
 * stdout travels on another pipe than its metrics or results: what it logged before sending
 * something may reach the test after it.
 */
export function logsOnce(role: RoleProcess, msg: string, count = 1, timeoutMs = 10_000) {
  return waitFor(
    `${count} '${msg}' log line(s) from ${role.name}`,
    () => {
      const lines = role.logs(msg);
      return lines.length >= count ? lines : undefined;
    },
    timeoutMs,
  );
}

/** Epoch ms of a pino log line's ISO `time`. */
export function logTime(line: { [key: string]: unknown }): number {
  return Date.parse(String(line.time));
}

// ---------------------------------------------------------------------------------------------
// Child processes of the CLI

export interface CliRun {
  child: ChildProcess;
  /** Everything printed so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves at exit with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * Runs `node cli/bin/jobpipe.js ...args` with `env` on top of a clean copy of the environment
 * (JOBPIPE_* from outside removed, so the host's settings cannot leak into a test).
 */
export function runCli(args: string[], env: Record<string, string> = {}, cleanup?: Cleanup): CliRun {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('JOBPIPE_')));
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    // 'close' comes after the stdio streams ended, so the output is complete.
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  cleanup?.child(child);
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True while a process with this pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ...": a zombie (Z) has exited, only its parent has not reaped it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup

interface Closable {
  close(): unknown;
}

const liveChildren = new Set<ChildProcess>();
const liveStacks = new Set<Stack>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if the test runner's process goes away: nothing can be awaited here.
  process.once('exit', () => {
    for (const child of liveChildren) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const stack of liveStacks) stack.killNow();
  });
}

/**
 * Everything a test started, stopped in reverse order by `run()`: stacks (SIGTERM, SIGKILL after
 * a grace period), single processes, zeromq sockets, event subscribers. After that, any process
 * still running the jobpipe CLI below this test process (e.g. one a Stack had spawned before its
 * start failed or hung) is killed.
 */
/** Runs `report` if the current test fails; outside a test (a beforeAll) there is none to watch. */
function whenTestFails(report: () => void): void {
  try {
    onTestFailed(report);
  } catch {
    // Not inside a test.
  }
}

/**
 * A failed test's role logs: each role's whole log goes to a file, and the last lines of each
 * are printed, so that a failure seen once in CI (a timeout, a stall) leaves what the roles said.
 */
function reportRoleLogs(stack: Stack): void {
  const roles = [stack.sink, stack.ventilator, ...stack.workers].filter((role): role is RoleProcess => role !== undefined);
  const dir = mkdtempSync(join(tmpdir(), 'jobpipe-failed-test-'));
  const tails: string[] = [];
  for (const role of roles) {
    writeFileSync(join(dir, `${role.name}.log`), `${role.lines.join('\n')}\n`);
    tails.push(`--- ${role.name} (last 15 of ${role.lines.length} lines)`, ...role.lines.slice(-15).map((line) => line.slice(0, 400)));
  }
  process.stderr.write(`role logs of the failed test in ${dir}\n${tails.join('\n')}\n`);
}

export class Cleanup {
  #tasks: { what: string; run: () => unknown }[] = [];

  constructor() {
    installExitHook();
  }

  add(what: string, run: () => unknown): void {
    this.#tasks.push({ what, run });
  }

  stack<S extends Stack>(stack: S): S {
    liveStacks.add(stack);
    whenTestFails(() => reportRoleLogs(stack));
    this.add('stack', async () => {
      // Workers first, while the ventilator is still there to answer their Drain (Stack.stop
      // signals them together, and each worker then waits 3 heartbeats for a Drained that never
      // comes); then the ventilator; the sink last.
      const stopAll = async () => {
        await Promise.all(stack.workers.map((worker) => worker.stop('SIGTERM', 10_000)));
        await stack.ventilator?.stop('SIGTERM', 10_000);
        await stack.stop();
      };
      await within('stopping the stack', 30_000, stopAll()).catch(() => stack.killNow());
      stack.killNow();
      liveStacks.delete(stack);
    });
    return stack;
  }

  role<R extends RoleProcess>(role: R): R {
    liveChildren.add(role.child);
    this.add(`process ${role.name}`, () => within(`stopping ${role.name}`, 15_000, role.stop('SIGTERM', 5000)).catch(() => role.child.kill('SIGKILL')));
    return role;
  }

  child(child: ChildProcess): ChildProcess {
    liveChildren.add(child);
    child.once('exit', () => liveChildren.delete(child));
    this.add(`pid ${child.pid}`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    });
    return child;
  }

  socket<S extends Closable>(socket: S): S {
    this.add('socket', () => socket.close());
    return socket;
  }

  events<E extends BatchEvents>(events: E): E {
    this.add('events', () => events.close());
    return events;
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const task of this.#tasks.splice(0).reverse()) {
      try {
        await task.run();
      } catch (error) {
        errors.push(new Error(`cleanup of ${task.what} failed: ${(error as Error).message}`));
      }
    }
    for (const child of liveChildren) if (child.exitCode !== null || child.signalCode !== null) liveChildren.delete(child);
    killStrayCliProcesses();
    if (errors.length > 0) console.warn(errors);
  }
}

/**
 * SIGKILLs every descendant of this process whose command line runs the jobpipe CLI. Only when
 * each test file has a process of its own (vitest's default `forks` pool): with `threads`, other
 * files' processes would be our descendants too, so nothing is killed here.
 */
export function killStrayCliProcesses(): number[] {
  if (!isMainThread || process.platform !== 'linux') return [];
  const parentOf = new Map<number, number>();
  const cmdline = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      parentOf.set(Number(entry), Number(fields[1]));
      cmdline.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // gone meanwhile
    }
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parentOf.get(pid), hops = 0; p !== undefined && p > 1 && hops < 50; p = parentOf.get(p), hops++) {
      if (p === process.pid) return true;
    }
    return false;
  };
  const killed: number[] = [];
  for (const [pid, line] of cmdline) {
    if (pid !== process.pid && line.includes(cliPath) && isDescendant(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // already gone
      }
    }
  }
  if (killed.length > 0) console.warn(`killed stray jobpipe processes: ${killed.join(', ')}`);
  return killed;
}

// ---------------------------------------------------------------------------------------------
// Stacks

/** What Stack and RoleProcess set themselves; every other JOBPIPE_* must not come from the host. */
const SET_BY_STACK = new Set([
  'JOBPIPE_PIPELINE',
  'JOBPIPE_JOBS_BIND',
  'JOBPIPE_JOBS_CONNECT',
  'JOBPIPE_RESULTS_BIND',
  'JOBPIPE_RESULTS_CONNECT',
  'JOBPIPE_EVENTS_BIND',
  'JOBPIPE_EVENTS_CONNECT',
  'JOBPIPE_METRICS_PORT',
  'JOBPIPE_WORKER_ID',
]);

/**
 * Blanks (an empty value reads as unset) every JOBPIPE_* setting of the environment the tests run
 * in, e.g. a developer's JOBPIPE_REDIS_URL: the processes inherit it, and these tests are about
 * the in-memory mode with their own settings only.
 */
export function hostSettingsBlanked(): Record<string, string> {
  return Object.fromEntries(
    Object.keys(process.env)
      .filter((key) => key.startsWith('JOBPIPE_') && !SET_BY_STACK.has(key))
      .map((key) => [key, '']),
  );
}

export interface BatchRunOptions {
  pipeline: string;
  workers: number;
  input: unknown;
  batchId: string;
  /** Environment for every role. */
  env?: Record<string, string>;
  workerEnv?: (index: number) => Record<string, string>;
  ventilatorEnv?: Record<string, string>;
  onProgress?: (event: ProgressEvent) => void;
  /** Client keys for the test's own subscriber, when the stack's sockets use CURVE. */
  curve?: CurveClient;
}

/**
 * Starts the sink, subscribes to its events, starts the ventilator with the batch's input, and
 * only then the workers. This order matters: a worker that connects before the ventilator has
 * bound gets "connection refused" and ZeroMQ backs off exponentially (up to the 2 s
 * reconnectMaxInterval of libs/transport), so it could join the batch up to ~2 s late and get
 * none of a short batch's jobs. With the jobs endpoint already bound, every worker's first
 * connect succeeds and all join within their process start-up time. The jobs wait in the
 * ventilator meanwhile (it dispatches only against credit).
 */
export async function startBatch(cleanup: Cleanup, options: BatchRunOptions): Promise<{ stack: Stack; events: BatchEvents }> {
  const stackOptions: StackOptions = {
    command,
    pipeline: options.pipeline,
    workers: 0,
    startVentilator: false,
    env: { ...hostSettingsBlanked(), JOBPIPE_LOG_LEVEL: 'info', ...options.env },
  };
  if (options.workerEnv) stackOptions.workerEnv = options.workerEnv;
  if (options.ventilatorEnv) stackOptions.ventilatorEnv = options.ventilatorEnv;
  return retryingPortClashes('starting a stack', async () => {
    const stack = cleanup.stack(await Stack.start(stackOptions));
    const events = cleanup.events(new BatchEvents(stack.endpoints.eventsConnect, options.onProgress, options.curve));
    try {
      // PUB/SUB slow joiner: the subscription must reach the sink before the batch can complete.
      await sleep(200);
      await stack.startVentilator({ JOBPIPE_INPUT: JSON.stringify(options.input), JOBPIPE_BATCH_ID: options.batchId });
      // One after another: Stack.addWorker names a worker from the count so far, so concurrent
      // calls would all be worker-1. Each call only spawns; the workers start up in parallel.
      for (let i = 0; i < options.workers; i++) await stack.addWorker();
      await Promise.all(stack.workers.map((worker) => worker.ready));
    } catch (error) {
      stack.killNow();
      await events.close();
      throw error;
    }
    return { stack, events };
  });
}

/**
 * Runs `start` again (up to `tries` times) when it failed because a port was taken. Stack and
 * RoleProcess pick ports that were free a moment ago (libs/launcher/src/free-port.ts) and a
 * process binds them up to a second later: on a busy machine another process (or an outgoing
 * connection's ephemeral source port) can take one in between. Nothing else is retried.
 */
export async function retryingPortClashes<T>(what: string, start: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const message = String((error as Error)?.message ?? error);
      if (attempt >= tries || !/address already in use|EADDRINUSE/i.test(message)) throw error;
      console.warn(`${what}: a port was taken meanwhile (${message.split('\n')[0]}); trying again`);
    }
  }
}
