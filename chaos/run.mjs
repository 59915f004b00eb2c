#!/usr/bin/env node
/**
 * jobpipe chaos harness: `npm run chaos -- [--jobs N] [--workers N] [--seed N] [--json FILE] ...`
 *
 * 1. Starts a redis-server of its own (free port, temp dir, AOF on) and the whole stack as separate
 *    OS processes (sink, N workers, ventilator) in durable mode, with short leases.
 * 2. Submits one echo batch through the durable intake (BullMQ), as a producer would.
 * 3. While it runs: SIGKILLs a random worker every --kill-every-ms on average and restarts it with
 *    the same JOBPIPE_WORKER_ID; SIGKILLs the ventilator, the sink and Redis once each, spread over
 *    the run by progress (ventilator at 12 %, sink at 35 %, Redis at 60 % of the jobs recorded, each
 *    only once the stack has made progress again since the previous one), restarting each on the
 *    same ports (and Redis on the same dir, reloading its AOF).
 * 4. Waits for the batch to be done, then checks in Redis that every job has exactly one recorded
 *    result (see verify.mjs for each check and how it can fail), and that nothing was dead-lettered.
 * 5. Prints a summary, writes `--json FILE`, and exits 1 on any loss, duplicate, dead letter or kill
 *    kind not done (2 on a bad flag). Every process and the Redis dir are removed whatever happens,
 *    Ctrl-C included; on failure every process's log goes to a directory whose path is printed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobpipeClient } from '@jobpipe/intake';
import { RedisServer, redisServerAvailable, Stack } from '@jobpipe/launcher';
import { connectRedis } from '@jobpipe/ledger';
import { loadPipeline } from '@jobpipe/pipeline';
import { parseChaosArgs, usage, UsageError } from './args.mjs';
import { scrapeCounter } from './metrics.mjs';
import { seededRandom } from '../scripts/seeded-random.mjs';
import { verifyBatch } from './verify.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'cli/dist/main.js');
const echoPath = join(repo, 'examples/echo/dist/pipeline.js');
const REDELIVERED = 'jobpipe_jobs_redelivered_total';
/** Where in the run (fraction of the jobs recorded) each one-off kill happens, in this order. */
const ONE_OFF_KILLS = [
  ['ventilator', 0.12],
  ['sink', 0.35],
  ['redis', 0.6],
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const number = (value) => value.toLocaleString('en-US');
const say = (line = '') => process.stdout.write(`${line}\n`);

/** Resolves with `promise`, or rejects with `message` (a string, or a function for one made at the time) after `ms`. */
async function within(ms, message, promise) {
  let timer;
  try {
    const fail = (reject) => reject(new Error(typeof message === 'function' ? message() : message));
    return await Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => fail(reject), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

class Chaos {
  /** Every role process ever started, killed ones included: for cleanup and the log dump. */
  spawned = [];
  ready = new WeakSet();
  kills = { worker: 0, ventilator: 0, sink: 0, redis: 0 };
  timeline = [];
  /** Highest jobpipe_jobs_redelivered_total seen per ventilator incarnation. */
  redeliveredByVentilator = new Map();
  /** Sum of the `redeliver` field of the ventilators' 'requeueing jobs' log lines: a cross-check. */
  redeliveredInLogs = 0;
  /** warn/error log lines by role and message. */
  logCounts = new Map();
  /** Kills or restarts that went wrong: each fails the run. */
  chaosErrors = [];
  /** Processes that exited without being killed by us (restarted, as a supervisor would). */
  crashes = [];
  /** Processes we are killing or stopping ourselves. */
  #expectedExit = new WeakSet();
  done = 0;
  finished = false;
  interrupted = false;
  startedAt = Date.now();
  /** @type {RedisServer | undefined} */ redis;
  /** @type {Stack | undefined} */ stack;
  /** @type {JobpipeClient | undefined} */ client;
  #cleaning;

  constructor(options) {
    this.o = options;
    this.random = seededRandom(options.seed);
    this.prefix = `chaos-${options.seed}`;
    this.batchId = `chaos-${options.seed}-${Date.now().toString(36)}`;
  }

  note(line) {
    const elapsed = ((Date.now() - this.startedAt) / 1000).toFixed(1).padStart(6);
    const progress = `${((100 * this.done) / this.o.jobs).toFixed(0).padStart(3)}%`;
    const text = `[${elapsed}s ${progress}] ${line}`;
    this.timeline.push(text);
    say(text);
  }

  async start() {
    if (!redisServerAvailable()) throw new Error('redis-server is not on PATH: the chaos harness starts its own (apt-get install redis-server)');
    this.redis = await RedisServer.start({ appendOnly: true });
    this.note(`redis-server on port ${this.redis.port}, AOF in ${this.redis.dir}`);
    this.stack = await Stack.start({
      command: [process.execPath, cliPath],
      pipeline: echoPath,
      workers: this.o.workers,
      env: {
        JOBPIPE_REDIS_URL: this.redis.url,
        JOBPIPE_REDIS_PREFIX: this.prefix,
        JOBPIPE_LEASE_MS: String(this.o.leaseMs),
        JOBPIPE_INTAKE_LOCK_MS: '2000',
        JOBPIPE_HEARTBEAT_MS: '500',
        JOBPIPE_CONCURRENCY: String(this.o.concurrency),
        JOBPIPE_LOG_LEVEL: this.o.logLevel,
      },
      onLine: (_line, parsed) => this.#onLogLine(parsed),
    });
    for (const process of this.stack.processes) this.#track(process);
    this.note(`stack up: sink, ${this.o.workers} workers, ventilator (pids ${this.stack.processes.map((p) => p.child.pid).join(', ')})`);
    this.client = new JobpipeClient(connectRedis(this.redis.url), this.prefix);
    // Both reconnect by themselves while Redis is down; unhandled, BullMQ prints every refused connect.
    this.client.redis.on('error', () => {});
    this.client.queue('echo').on('error', () => {});
  }

  #track(process) {
    this.spawned.push(process);
    process.ready.then(
      () => this.ready.add(process),
      () => {},
    );
    if (process.options.role === 'ventilator') this.redeliveredByVentilator.set(process, 0);
    void process.exited.then(({ code, signal }) => {
      if (this.#expectedExit.has(process) || this.finished) return;
      // Nobody asked it to go: a crash. Note it and restart it, as compose's or Kubernetes'
      // restart policy would; the guarantees must hold across this too.
      const stderr = process.stderr.trim().split('\n').slice(-3).join(' | ');
      const crash = { name: process.name, pid: process.child.pid, code, signal, stderr, at: Date.now() - this.startedAt };
      this.crashes.push(crash);
      this.note(`UNEXPECTED EXIT of ${process.name} (pid ${crash.pid}, code ${code}, signal ${signal})${stderr ? `: ${stderr}` : ''}; restarting it`);
      this.#restartCrashed(process).catch((error) => {
        this.note(`ERROR restarting ${process.name} after its crash: ${error.message}`);
        this.chaosErrors.push(`restarting ${process.name} after its crash: ${error.message}`);
      });
    });
    return process;
  }

  async #restartCrashed(process) {
    const role = process.options.role;
    if (role === 'worker') {
      const index = this.stack.workers.indexOf(process);
      if (index < 0) return;
      const next = this.#track(await this.stack.spawn('worker', { JOBPIPE_WORKER_ID: process.name }, process.name));
      this.stack.workers[index] = next;
      await next.ready;
    } else if (role === 'ventilator') {
      if (this.stack.ventilator !== process) return;
      const next = this.#track(await this.stack.spawn('ventilator', this.stack.options.ventilatorEnv ?? {}));
      this.stack.ventilator = next;
      await next.ready;
    } else {
      if (this.stack.sink !== process) return;
      const next = this.#track(await this.stack.spawn('sink'));
      this.stack.sink = next;
      await next.ready;
    }
    this.note(`${process.name} restarted after its crash`);
  }

  #onLogLine(parsed) {
    if (!parsed || (parsed.level !== 'warn' && parsed.level !== 'error' && parsed.level !== 'fatal')) return;
    const key = `${parsed.role} ${parsed.level}: ${parsed.msg}`;
    this.logCounts.set(key, (this.logCounts.get(key) ?? 0) + 1);
    if (parsed.role === 'ventilator' && parsed.msg === 'requeueing jobs') this.redeliveredInLogs += Number(parsed.redeliver ?? 0);
  }

  /** Submits the batch through the durable intake and waits for it to be done; returns the wall time in s. */
  async runBatch() {
    const { jobs, workMs, timeoutS } = this.o;
    const pipeline = await loadPipeline(echoPath);
    const input = { jobs, payloadBytes: 100, workMs };
    const submittedAt = Date.now();
    await this.client.submit(pipeline, input, { batchId: this.batchId });
    this.note(`submitted batch ${this.batchId}: ${number(jobs)} echo jobs of 100 bytes, ${workMs} ms of work each`);
    let lastShown = 0;
    const wait = this.client.waitForBatch(pipeline.name, this.batchId, (report) => {
      this.done = report.done;
      if (Date.now() - lastShown >= 5000) {
        lastShown = Date.now();
        this.note(`progress ${number(report.done)}/${number(jobs)}, kills so far: ${this.#killsText()}`);
      }
    });
    const chaos = this.#chaosLoop();
    try {
      await within(timeoutS * 1000, () => `the batch was not done after ${timeoutS} s (${number(this.done)}/${number(jobs)} jobs recorded or dead)`, wait);
    } finally {
      this.finished = true;
      await chaos;
    }
    const seconds = (Date.now() - submittedAt) / 1000;
    this.note(`batch done after ${seconds.toFixed(1)} s`);
    return seconds;
  }

  #killsText() {
    return Object.entries(this.kills)
      .map(([kind, count]) => `${kind} ${count}`)
      .join(', ');
  }

  /** Kills until the batch is done; at most one worker kill and one one-off kill at a time. */
  async #chaosLoop() {
    const { jobs, killEveryMs } = this.o;
    const tasks = [];
    const failed = (what) => (error) => {
      if (this.interrupted) return; // Ctrl-C: the cleanup killed what this step was waiting for
      this.note(`ERROR while ${what}: ${error.message}`);
      this.chaosErrors.push(`${what}: ${error.message}`);
    };
    let nextWorkerKill;
    let workerBusy = false;
    let oneOffBusy = false;
    let oneOffIndex = 0;
    let doneAfterLastOneOff = 0;
    let lastScrape = 0;
    while (!this.finished) {
      const now = Date.now();
      // Worker kills start once jobs are flowing.
      if (nextWorkerKill === undefined && this.done > 0) nextWorkerKill = now + this.random.between(killEveryMs / 2, (3 * killEveryMs) / 2);
      if (nextWorkerKill !== undefined && now >= nextWorkerKill && !workerBusy) {
        workerBusy = true;
        tasks.push(
          this.#killWorker()
            .catch(failed('killing and restarting a worker'))
            .finally(() => {
              workerBusy = false;
              nextWorkerKill = Date.now() + this.random.between(killEveryMs / 2, (3 * killEveryMs) / 2);
            }),
        );
      }
      // One-off kills: each at its point of the run, and only after the stack made progress again.
      const next = ONE_OFF_KILLS[oneOffIndex];
      if (next && !oneOffBusy && this.done >= next[1] * jobs && this.done >= doneAfterLastOneOff + Math.max(1, Math.ceil(jobs * 0.02))) {
        const [kind] = next;
        oneOffIndex++;
        oneOffBusy = true;
        const kill = kind === 'ventilator' ? this.#killVentilator() : kind === 'sink' ? this.#killSink() : this.#killRedis();
        tasks.push(
          kill.catch(failed(`killing and restarting the ${kind}`)).finally(() => {
            oneOffBusy = false;
            doneAfterLastOneOff = this.done;
          }),
        );
      }
      if (now - lastScrape >= 1000) {
        lastScrape = now;
        void this.#scrapeVentilator();
      }
      await sleep(50);
    }
    await Promise.allSettled(tasks);
  }

  async #sigkill(process) {
    this.#expectedExit.add(process);
    process.child.kill('SIGKILL');
    await process.exited;
  }

  async #killWorker() {
    const workers = this.stack.workers;
    const candidates = workers.map((worker, index) => ({ worker, index })).filter(({ worker }) => worker.running && this.ready.has(worker));
    if (candidates.length === 0) return;
    const { worker, index } = this.random.pick(candidates);
    const pid = worker.child.pid;
    await this.#sigkill(worker);
    this.kills.worker++;
    const next = this.#track(await this.stack.spawn('worker', { JOBPIPE_WORKER_ID: worker.name }, worker.name));
    workers[index] = next;
    this.note(`SIGKILL ${worker.name} (pid ${pid}); restarted as pid ${next.child.pid}`);
    await next.ready;
  }

  async #killVentilator() {
    const old = this.stack.ventilator;
    // The counter starts from 0 in each incarnation: read it right before the kill.
    await this.#scrapeVentilator();
    const pid = old.child.pid;
    await this.#sigkill(old);
    this.kills.ventilator++;
    const next = this.#track(await this.stack.spawn('ventilator', this.stack.options.ventilatorEnv ?? {}));
    this.stack.ventilator = next;
    this.note(`SIGKILL ventilator (pid ${pid}); restarted as pid ${next.child.pid}`);
    await next.ready;
    this.note('ventilator ready again; it resumes the batch once the intake lock of the dead one runs out');
  }

  async #killSink() {
    const old = this.stack.sink;
    const pid = old.child.pid;
    await this.#sigkill(old);
    this.kills.sink++;
    const next = this.#track(await this.stack.spawn('sink'));
    this.stack.sink = next;
    this.note(`SIGKILL sink (pid ${pid}); restarted as pid ${next.child.pid} on the same ports`);
    await next.ready;
    this.note('sink ready again');
  }

  async #killRedis() {
    await this.redis.kill('SIGKILL');
    this.kills.redis++;
    this.note(`SIGKILL redis-server; down for ${this.o.redisDownMs} ms`);
    await sleep(this.o.redisDownMs);
    await this.redis.startProcess();
    this.note(`redis-server restarted on port ${this.redis.port}, AOF reloaded`);
  }

  async #scrapeVentilator() {
    const ventilator = this.stack?.ventilator;
    if (!ventilator?.running || !this.ready.has(ventilator)) return;
    const value = await scrapeCounter(ventilator.url('/metrics'), REDELIVERED);
    if (value !== undefined) this.redeliveredByVentilator.set(ventilator, Math.max(this.redeliveredByVentilator.get(ventilator) ?? 0, value));
  }

  /** The last reading of the ventilator that saw the batch end. */
  async scrapeFinal() {
    await this.#scrapeVentilator();
  }

  get redeliveredFromMetrics() {
    let sum = 0;
    for (const value of this.redeliveredByVentilator.values()) sum += value;
    return sum;
  }

  /** Waits up to `ms` for the intake's BullMQ job to be completed (the ventilator saw the batch end). */
  async intakeState(ms = 15_000) {
    const deadline = Date.now() + ms;
    let state = 'unknown';
    while (Date.now() < deadline) {
      const job = await this.client.queue('echo').getJob(this.batchId);
      state = job ? await job.getState() : 'missing';
      if (state === 'completed' || state === 'failed') return state;
      await sleep(250);
    }
    return state;
  }

  /** What is left in the ledger, for the log dump when something went wrong. */
  async ledgerSnapshot() {
    const redis = this.client.redis;
    const keys = this.client.ledger.keys.batch(this.batchId);
    const [meta, inflight, leases, dead, errors] = await Promise.all([
      redis.hgetall(keys.meta),
      redis.hscan(keys.inflight, '0', 'COUNT', 200).then(([, entries]) => entries),
      redis.zrange(keys.leases, 0, 199, 'WITHSCORES'),
      redis.hscan(keys.dead, '0', 'COUNT', 200).then(([, entries]) => entries),
      redis.hscan(keys.errors, '0', 'COUNT', 200).then(([, entries]) => entries),
    ]);
    return { now: Date.now(), meta, inflight, leases, dead, errors };
  }

  /** Writes every process's log (all incarnations), the timeline and `extra` to `dir`. */
  async dumpLogs(dir, extra) {
    mkdirSync(dir, { recursive: true });
    // A process's last lines may still be in its stdout pipe after it exited.
    await Promise.all(
      this.spawned.map((process) => {
        const stdout = process.child.stdout;
        if (process.running || stdout.readableEnded || stdout.destroyed) return undefined;
        return within(2000, 'stdout', new Promise((resolve) => stdout.once('close', resolve))).catch(() => {});
      }),
    );
    this.spawned.forEach((process, i) => {
      const exit = process.running ? 'still running' : `exit code ${process.child.exitCode}, signal ${process.child.signalCode}`;
      const text = [`# ${process.name} pid ${process.child.pid} (${exit})`, ...process.lines, ...(process.stderr ? ['# stderr', process.stderr] : [])].join(
        '\n',
      );
      writeFileSync(join(dir, `${String(i).padStart(2, '0')}-${process.name}-${process.child.pid}.log`), `${text}\n`);
    });
    writeFileSync(join(dir, 'timeline.txt'), `${this.timeline.join('\n')}\n`);
    writeFileSync(join(dir, 'report.json'), `${JSON.stringify(extra, null, 2)}\n`);
  }

  /** Stops everything we started and removes the Redis dir; safe to call twice. */
  cleanup({ graceful }) {
    this.#cleaning ??= (async () => {
      this.finished = true;
      const stopOne = (process, ms) => {
        this.#expectedExit.add(process);
        return (graceful ? process.stop('SIGTERM', ms) : this.#sigkill(process)).catch(() => {});
      };
      const stack = this.stack;
      if (stack) {
        // Workers first, while the ventilator can still answer their Drain; the sink last.
        await Promise.all(stack.workers.map((worker) => stopOne(worker, 5000)));
        if (stack.ventilator) await stopOne(stack.ventilator, 5000);
        if (stack.sink) await stopOne(stack.sink, 5000);
      }
      for (const process of this.spawned) if (process.running) process.child.kill('SIGKILL');
      if (this.client) {
        await within(3000, 'close', this.client.close()).catch(() => {});
        this.client.redis.disconnect();
      }
      await this.redis?.stop().catch(() => {});
    })();
    return this.#cleaning;
  }

  /** Last resort from an 'exit' handler: nothing can be awaited there. */
  killNow() {
    for (const process of this.spawned) if (process.running) process.child.kill('SIGKILL');
    if (this.redis) {
      void this.redis.kill('SIGKILL').catch(() => {});
      try {
        rmSync(this.redis.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      } catch {
        // best effort
      }
    }
  }
}

function printReport(chaos, check, seconds, intake, failures) {
  say();
  say(`jobpipe chaos: ${failures.length === 0 ? 'PASS' : 'FAIL'}`);
  say(
    `  jobs ${number(check.jobs)}; results in Redis (HLEN) ${number(check.results)}; lost ${number(check.lost)}; duplicates ${number(check.duplicates)}; dead letters ${number(check.dead)}`,
  );
  const d = check.detectors;
  say(
    `  duplicate detectors: ledger 'recorded' counter ${number(d.ledgerRecorded)}, per-worker counts ${number(d.workerCounted)}, sink's fold count ${d.foldCount === null ? 'none' : number(d.foldCount)} and sum ${d.foldSum === null ? 'none' : number(d.foldSum)} (expected ${number(d.expectedSum)})`,
  );
  if (check.missing.length > 0) say(`  missing seqs (first ${check.missing.length}): ${check.missing.join(', ')}`);
  if (check.wrongValues > 0) say(`  results whose value is not their seq: ${check.wrongValues}, e.g. ${JSON.stringify(check.wrongExamples.slice(0, 5))}`);
  if (check.outOfRange > 0) say(`  results for seqs outside 0..${check.jobs - 1}: ${check.outOfRange}`);
  if (check.unfolded > 0) say(`  results recorded but not in the sink's answer: ${check.unfolded}`);
  if (check.recordedAndDead.length > 0) say(`  seqs both recorded and dead-lettered (the ledger counts them twice): ${check.recordedAndDead.join(', ')}`);
  say(`  left in the ledger: ${check.inflightLeft} in flight, ${check.leasesLeft} leases; batch status ${check.status}; intake (BullMQ) job ${intake}`);
  say(
    `  redelivered ${number(chaos.redeliveredFromMetrics)}: the sum of ${REDELIVERED} over ${chaos.redeliveredByVentilator.size} ventilator incarnation(s), each scraped every second, right before its SIGKILL and at the end` +
      ` (so increments in the last moments before a kill can be missing); the ventilators' 'requeueing jobs' log lines add up to ${number(chaos.redeliveredInLogs)}`,
  );
  say(
    `  sink's summary: ${check.summary ? `${number(check.summary.duplicates)} late duplicates dropped, ${check.summary.jobsPerSecond.toFixed(0)} jobs/s by its clock` : 'none'}`,
  );
  say(
    `  kills: ${Object.entries(chaos.kills)
      .map(([kind, count]) => `${kind} ${count}`)
      .join(', ')}`,
  );
  if (chaos.crashes.length > 0) {
    say(`  processes that died by themselves (not killed by the harness; restarted): ${chaos.crashes.length}`);
    for (const crash of chaos.crashes)
      say(
        `    ${crash.name} pid ${crash.pid} at ${(crash.at / 1000).toFixed(1)} s: code ${crash.code}, signal ${crash.signal}${crash.stderr ? `, stderr: ${crash.stderr}` : ''}`,
      );
  }
  say(`  seconds ${seconds === null ? '-' : seconds.toFixed(1)} (submit to done)`);
  if (chaos.logCounts.size > 0) {
    say('  warnings and errors the processes logged:');
    for (const [key, count] of [...chaos.logCounts].sort((a, b) => b[1] - a[1])) say(`    ${String(count).padStart(6)}  ${key}`);
  }
  for (const failure of failures) say(`  FAILED: ${failure}`);
}

async function main() {
  let options;
  try {
    options = parseChaosArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`chaos: ${error.message}\n${usage}\n`);
    process.exit(2);
  }
  if (options.help) {
    say(usage);
    return 0;
  }
  options.seed ??= Date.now() % 1_000_000;
  // Settings from the caller's environment must not leak into the stack.
  for (const key of Object.keys(process.env)) if (key.startsWith('JOBPIPE_')) delete process.env[key];

  const chaos = new Chaos(options);
  process.once('exit', () => chaos.killNow());
  const interrupt = (signal) => {
    say(`\n${signal}: stopping every process and removing the Redis dir`);
    chaos.interrupted = true;
    process.once(signal, () => process.exit(130)); // a second one: do not wait
    void chaos.cleanup({ graceful: false }).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  say(
    `jobpipe chaos: ${number(options.jobs)} jobs, ${options.workers} workers (concurrency ${options.concurrency}), seed ${options.seed}, a worker killed every ~${options.killEveryMs} ms`,
  );
  const failures = [];
  let seconds = null;
  let check;
  let intake = 'unknown';
  try {
    await chaos.start();
    try {
      seconds = await chaos.runBatch();
    } catch (error) {
      failures.push(error.message);
    }
    for (const error of chaos.chaosErrors) failures.push(`chaos step failed: ${error}`);
    if (!chaos.redis.running) await chaos.redis.startProcess(); // a restart that failed: try once more, to read the results
    const keys = chaos.client.ledger.keys.batch(chaos.batchId);
    check = await within(60_000, 'reading the results from Redis took over 60 s', verifyBatch(chaos.client.redis, keys, options.jobs));
    intake = await chaos.intakeState(seconds === null ? 0 : 15_000);
    await chaos.scrapeFinal();
  } catch (error) {
    failures.push(`harness error: ${error.stack ?? error.message}`);
  }

  if (check) {
    if (check.lost > 0) failures.push(`${check.lost} job(s) have no recorded result`);
    if (check.duplicates > 0) failures.push(`${check.duplicates} result(s) recorded or folded more than once`);
    if (check.dead > 0) failures.push(`${check.dead} dead letter(s)`);
    if (check.unfolded > 0) failures.push(`${check.unfolded} recorded result(s) missing from the sink's answer`);
    if (check.wrongValues > 0 || check.outOfRange > 0) failures.push(`${check.wrongValues + check.outOfRange} result(s) with a wrong value or seq`);
    if (check.results !== options.jobs) failures.push(`HLEN of the results is ${check.results}, not ${options.jobs}`);
  }
  for (const [kind, count] of Object.entries(chaos.kills)) if (count < 1) failures.push(`no ${kind} was killed (the batch ended first?)`);

  const json = check && {
    jobs: options.jobs,
    results: check.results,
    lost: check.lost,
    duplicates: check.duplicates,
    redelivered: chaos.redeliveredFromMetrics,
    dead: check.dead,
    kills: { ...chaos.kills },
    seconds: seconds === null ? null : Math.round(seconds * 10) / 10,
  };
  if (check) printReport(chaos, check, seconds, intake, failures);
  else for (const failure of failures) say(`FAILED: ${failure}`);
  if (options.json && json) writeFileSync(options.json, `${JSON.stringify(json)}\n`);

  const logsDir = options.logs ?? (failures.length > 0 ? mkdtempSync(join(tmpdir(), 'jobpipe-chaos-logs-')) : undefined);
  if (logsDir) {
    let snapshot;
    if (failures.length > 0 && chaos.client) snapshot = await within(5000, 'snapshot', chaos.ledgerSnapshot()).catch((error) => ({ error: error.message }));
    await chaos.cleanup({ graceful: failures.length === 0 });
    await chaos.dumpLogs(logsDir, {
      options,
      failures,
      check,
      json,
      kills: chaos.kills,
      crashes: chaos.crashes,
      ledger: snapshot,
      logCounts: Object.fromEntries(chaos.logCounts),
    });
    say(`  process logs, timeline and report: ${logsDir}`);
  } else {
    await chaos.cleanup({ graceful: true });
  }
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`chaos: ${error.stack ?? error}\n`);
    process.exit(1);
  },
);
