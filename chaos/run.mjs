#!/usr/bin/env node
/**
 * jobpipe chaos harness: `npm run chaos -- [--jobs N] [--workers N] [--seed N] [--json FILE] ...`
 *
 * 1. Starts a redis-server of its own (free port, temp dir, AOF on) and the whole stack as separate
 *    OS processes (sink, N workers, ventilator) in durable mode, with short leases.
 * 2. Submits one big echo batch through the durable intake (BullMQ), as a producer would; while it
 *    runs, submits --batches smaller ones (some with a priority) at points of its progress, and
 *    adds --single-jobs single jobs, one JobpipeClient.add call each, in a steady stream paced by
 *    the clock and by the big batch's progress (some with a priority, some delayed, some with an
 *    idempotency key that is given again later with another payload).
 * 3. While it runs: SIGKILLs a random worker every --kill-every-ms on average and restarts it with
 *    the same JOBPIPE_WORKER_ID; SIGKILLs the ventilator, the sink and Redis once each, spread over
 *    the run by progress (ventilator at 12 %, sink at 35 %, Redis at 60 % of the jobs recorded, each
 *    only once the stack has made progress again since the previous one), restarting each on the
 *    same ports (and Redis on the same dir, reloading its AOF). `--faults` chooses the Redis
 *    faults instead of that kill: `snapshot` (Redis restored from a snapshot 3 s old) and
 *    `failover` (a Sentinel failover to a replica that lagged 2 s) lose acknowledged writes, which
 *    the stack must repair; single jobs answered while Redis was losing them may be lost
 *    (docs/durability.md: not repaired), and are counted apart.
 * 4. Waits for every batch to be done and every single job to have an outcome (and its bucket to be
 *    done), then checks in Redis, for the big batch, each smaller batch and each bucket the single
 *    jobs landed in, that every job has exactly one recorded result (see verify.mjs for each check
 *    and how it can fail) and that nothing was dead-lettered; and for the single jobs that each id
 *    `add` answered with is done with its own payload's value (getJob), that no job of a bucket is
 *    one nobody was answered with, that no payload ran as two jobs, and that a key given twice
 *    gave one id and one job.
 * 5. Prints a summary, writes `--json FILE`, and exits 1 on any loss, duplicate, dead letter or kill
 *    kind not done (2 on a bad flag). Every process and the Redis dir are removed whatever happens,
 *    Ctrl-C included; on failure every process's log goes to a directory whose path is printed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobpipeClient } from '@jobpipe/intake';
import { RedisSentinelSet, RedisServer, redisServerAvailable, Stack } from '@jobpipe/launcher';
import { connectRedis, parseJobId } from '@jobpipe/ledger';
import { loadPipeline } from '@jobpipe/pipeline';
import { parseChaosArgs, usage, UsageError } from './args.mjs';
import { scrapeCounter, scrapeValues } from './metrics.mjs';
import { seededRandom } from '../scripts/seeded-random.mjs';
import { tallySum, tallyValue } from './tally-pipeline.mjs';
import { verifyBatch } from './verify.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'cli/dist/main.js');
const echoPath = join(repo, 'examples/echo/dist/pipeline.js');
const tallyPath = join(repo, 'chaos/tally-pipeline.mjs');
const REDELIVERED = 'jobpipe_jobs_redelivered_total';
/** The pipeline of the big batch and the single jobs (and of everything, with --pipelines 1). */
const PIPELINE = 'echo';
/** --pipelines 2: the second pipeline, of every other smaller batch. */
const SECOND = 'tally';
/** Each pipeline's module, the value its job `i` answers, and the sum of those over a batch of n jobs (its answer's `sum`). */
const PIPELINES = {
  [PIPELINE]: { path: echoPath, value: (i) => i, sum: (n) => (n * (n - 1)) / 2 },
  [SECOND]: { path: tallyPath, value: tallyValue, sum: tallySum },
};
/**
 * --pipelines 2: the worker pools, worker-1.. by index: the first half serves echo only, the second
 * half tally only, and with an odd count the last worker serves both. Returns { name: pool }, a
 * pool being a pipeline's name or 'both'.
 */
function workerPools(workers) {
  const half = Math.floor(workers / 2);
  const pools = {};
  for (let index = 0; index < workers; index++) pools[`worker-${index + 1}`] = index < half ? PIPELINE : index < 2 * half ? SECOND : 'both';
  return pools;
}
/** The pipelines a pool serves. */
const poolServes = (pool) => (pool === 'both' ? [PIPELINE, SECOND] : [pool]);
/** One single job in this many has an idempotency key, given again later with another payload. */
const KEYED_EVERY = 25;
/** The single jobs are all added by the time the big batch has this much of its jobs done (or by the clock, if sooner). */
const SINGLE_BY_PROGRESS = 0.85;
/** No job of any kind done for this long is a stall: noted in the timeline with what the ventilator and the sink say. */
const STALL_MS = 10_000;
const STALL_GAUGES = {
  ventilator: [
    'jobpipe_jobs_inflight',
    'jobpipe_jobs_waiting',
    'jobpipe_stream_jobs_waiting',
    'jobpipe_workers_connected',
    'jobpipe_batches_running',
    'jobpipe_jobs_dispatched_total',
    REDELIVERED,
  ],
  sink: ['jobpipe_batches_open', 'jobpipe_jobs_completed_total', 'jobpipe_duplicate_results_total'],
};
/**
 * Where in the run (fraction of the jobs recorded) each one-off kill or Redis fault happens, in this
 * order: the ventilator, the sink, then the --faults (in FAULT_KINDS' order) around 60 %.
 */
function oneOffSchedule(faults) {
  const n = faults.length;
  return [['ventilator', 0.12], ['sink', 0.35], ...faults.map((kind, k) => [kind, 0.6 + 0.2 * (k - (n - 1) / 2)])];
}
/** The key of each fault kind in `kills` (a Redis kill has always been `redis`). */
const KILL_KEY = { kill: 'redis', snapshot: 'snapshot', failover: 'failover' };
/** `snapshot`: how long after the snapshot Redis is restored from it (the acknowledged writes it loses). */
const SNAPSHOT_AGE_MS = 3000;
/** `failover`: how long the replica lags (paused) before the master is SIGKILLed. */
const REPLICA_LAG_MS = 2000;
/** With such faults, the last smaller batch is submitted this long after the first of them began. */
const LOSS_SUBMIT_MS = 1000;
/** Faults that lose acknowledged writes: the stack repairs what it can (docs/durability.md). */
const LOSSY = new Set(['snapshot', 'failover']);
/**
 * A single job added while Redis was losing writes, not done yet once every other job is: how long
 * the harness still waits for it before counting it lost with those writes (a lease and a repair
 * check or two).
 */
const AT_RISK_GRACE_MS = 15_000;

/** How long a restarted role may take to be ready: past it, the step fails the run instead of hanging it. */
const READY_MS = 30_000;

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
  kills = { worker: 0, ventilator: 0, sink: 0 };
  /** The times Redis lost acknowledged writes: { kind, from, to } (ms since the epoch); a single job answered in one may be lost. */
  lossWindows = [];
  /** What each Redis fault did, for the report: { kind, at, text }. */
  faultNotes = [];
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
  /** The longest time in which no job of any kind was seen done, in ms (see STALL_MS). */
  longestStallMs = 0;
  finished = false;
  interrupted = false;
  startedAt = Date.now();
  /** The lone Redis, or (with `failover`) the current master of `sentinelSet`. @type {RedisServer | undefined} */ redis;
  /** @type {RedisSentinelSet | undefined} */ sentinelSet;
  /** @type {Stack | undefined} */ stack;
  /** @type {JobpipeClient | undefined} */ client;
  /** The smaller batches: id, pipeline, jobs, priority, when to submit (a fraction of the big batch's jobs done), then submittedAt, seconds. */
  smallBatches = [];
  /**
   * The single jobs: `ids[i]` is the id the add call with payload index i answered with; `keyed`
   * the jobs whose idempotency key is given twice ({ i, key, again: the second payload's index,
   * first and second: the ids each call answered with, firstAt and secondAt: when });
   * `answeredAt[i]` when that call was answered; `addErrors` calls that were rejected.
   */
  single = { ids: [], answeredAt: [], added: 0, calls: 0, answered: 0, keyed: [], addErrors: [], delayed: 0, withPriority: 0, allDoneAt: undefined };
  #cleaning;

  constructor(options) {
    this.o = options;
    this.random = seededRandom(options.seed);
    // The workload's own draws, so that adding kinds of jobs leaves a seed's kills as they were.
    this.plan = seededRandom((options.seed ^ 0x5bd1e995) >>> 0);
    this.prefix = `chaos-${options.seed}`;
    this.faults = options.faults;
    this.lossy = options.faults.some((kind) => LOSSY.has(kind));
    this.schedule = oneOffSchedule(options.faults);
    for (const kind of options.faults) this.kills[KILL_KEY[kind]] = 0;
    this.batchId = `chaos-${options.seed}-${Date.now().toString(36)}`;
    // --pipelines 2: the pool of each worker (by name), the kills of each pool, and whose turn it is.
    this.pools = options.pipelines === 2 ? workerPools(options.workers) : undefined;
    this.poolOrder = this.pools ? [...new Set(Object.values(this.pools))] : [];
    this.poolKills = Object.fromEntries(this.poolOrder.map((pool) => [pool, 0]));
    this.poolTurn = 0;
    const { batches, batchJobs } = options;
    for (let k = 0; k < batches; k++) {
      this.smallBatches.push({
        id: `${this.batchId}-b${k + 1}`,
        // With two pipelines, tally first, then echo, and so on (the big batch is echo's).
        pipeline: this.pools && k % 2 === 0 ? SECOND : PIPELINE,
        jobs: Math.floor(this.plan.between(Math.ceil(batchJobs / 4), batchJobs + 1)),
        // Every other one with a priority (1 the highest): they go before the big batch, which has none.
        priority: k % 2 === 1 ? 1 + ((k >> 1) % 3) : undefined,
        at: 0.05 + (0.6 * (k + 0.5)) / batches,
        submittedAt: undefined,
        seconds: undefined,
      });
    }
  }

  /** The extra environment of a worker (by name): with --pipelines 2, the pipelines of its pool. */
  workerEnv(name) {
    const pool = this.pools?.[name];
    return pool === undefined
      ? {}
      : {
          JOBPIPE_PIPELINE: poolServes(pool)
            .map((pipeline) => PIPELINES[pipeline].path)
            .join(','),
        };
  }

  /** The workers (by name) that serve a pipeline: every one with --pipelines 1. */
  workersOf(pipeline) {
    if (!this.pools) return Array.from({ length: this.o.workers }, (_, index) => `worker-${index + 1}`);
    return Object.keys(this.pools).filter((name) => poolServes(this.pools[name]).includes(pipeline));
  }

  /** The payload index of a keyed job's second add call (never to run): past every first call's. */
  againIndex(n) {
    return this.o.singleJobs + n;
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
    let redisEnv;
    if (this.faults.includes('failover')) {
      this.sentinelSet = await RedisSentinelSet.start();
      this.redis = this.sentinelSet.master;
      this.note(
        `Redis: master on port ${this.redis.port}, replica on ${this.sentinelSet.replica.port}, Sentinels ${this.sentinelSet.sentinels} (master name ${this.sentinelSet.name})`,
      );
      // The URL gives only the scheme (jobpipe needs one); the master comes from the Sentinels.
      redisEnv = {
        JOBPIPE_REDIS_URL: 'redis://sentinel-master.invalid',
        JOBPIPE_REDIS_SENTINELS: this.sentinelSet.sentinels,
        JOBPIPE_REDIS_SENTINEL_NAME: this.sentinelSet.name,
      };
    } else {
      this.redis = await RedisServer.start({ appendOnly: true });
      this.note(`redis-server on port ${this.redis.port}, AOF in ${this.redis.dir}`);
      redisEnv = { JOBPIPE_REDIS_URL: this.redis.url };
    }
    this.stack = await Stack.start({
      command: [process.execPath, cliPath],
      // With two pipelines, the ventilator and the sink serve both; each worker its pool's (workerEnv).
      pipeline: this.pools ? `${echoPath},${tallyPath}` : echoPath,
      workers: this.o.workers,
      workerEnv: (index) => this.workerEnv(`worker-${index + 1}`),
      env: {
        ...redisEnv,
        // What Redis lost is repaired at the next checks (docs/durability.md): every second, not 5.
        ...(this.lossy ? { JOBPIPE_REPAIR_CHECK_MS: '1000' } : {}),
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
    if (this.pools) this.note(`two pipelines, ${this.#poolsText()}`);
    // The harness's client follows the master through the Sentinels too.
    const target = this.sentinelSet ? { sentinels: this.sentinelSet.sentinelEndpoints, name: this.sentinelSet.name } : this.redis.url;
    this.client = new JobpipeClient(connectRedis(target), this.prefix);
    // Both reconnect by themselves while Redis is down; unhandled, BullMQ prints every refused connect.
    this.client.redis.on('error', () => {});
    for (const pipeline of this.pools ? [PIPELINE, SECOND] : [PIPELINE]) this.client.queue(pipeline).on('error', () => {});
  }

  #poolsText() {
    return `worker pools: ${this.poolOrder
      .map(
        (pool) =>
          `${pool === 'both' ? `both ${PIPELINE} and ${SECOND}` : `${pool} only`}: ${Object.keys(this.pools)
            .filter((name) => this.pools[name] === pool)
            .join(', ')}`,
      )
      .join('; ')}`;
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
      const next = this.#track(await this.stack.spawn('worker', { JOBPIPE_WORKER_ID: process.name, ...this.workerEnv(process.name) }, process.name));
      this.stack.workers[index] = next;
      await this.#ready(next);
    } else if (role === 'ventilator') {
      if (this.stack.ventilator !== process) return;
      const next = this.#track(await this.stack.spawn('ventilator', this.stack.options.ventilatorEnv ?? {}));
      this.stack.ventilator = next;
      await this.#ready(next);
    } else {
      if (this.stack.sink !== process) return;
      const next = this.#track(await this.stack.spawn('sink'));
      this.stack.sink = next;
      await this.#ready(next);
    }
    this.note(`${process.name} restarted after its crash`);
  }

  #onLogLine(parsed) {
    if (!parsed || (parsed.level !== 'warn' && parsed.level !== 'error' && parsed.level !== 'fatal')) return;
    const key = `${parsed.role} ${parsed.level}: ${parsed.msg}`;
    this.logCounts.set(key, (this.logCounts.get(key) ?? 0) + 1);
    if (parsed.role === 'ventilator' && parsed.msg === 'requeueing jobs') this.redeliveredInLogs += Number(parsed.redeliver ?? 0);
  }

  /**
   * Submits the big batch, runs the smaller batches and the single jobs beside it, and waits until
   * everything is done; returns the big batch's wall time and the whole run's, in s.
   */
  async runAll() {
    const { jobs, workMs, timeoutS, payloadBytes } = this.o;
    const pipeline = await loadPipeline(echoPath);
    this.pipeline = pipeline;
    this.loaded = { [PIPELINE]: pipeline, ...(this.pools ? { [SECOND]: await loadPipeline(tallyPath) } : {}) };
    const input = { jobs, payloadBytes, workMs };
    const submittedAt = Date.now();
    await this.client.submit(pipeline, input, { batchId: this.batchId });
    this.note(`submitted batch ${this.batchId}: ${number(jobs)} echo jobs of ${number(payloadBytes)} bytes, ${workMs} ms of work each`);
    let lastShown = 0;
    let batchSeconds = null;
    const big = this.client
      .waitForBatch(pipeline.name, this.batchId, (report) => {
        this.done = report.done;
        if (Date.now() - lastShown >= 5000) {
          lastShown = Date.now();
          this.note(`progress ${number(report.done)}/${number(jobs)}, ${this.#othersText()}, kills so far: ${this.#killsText()}`);
        }
      })
      .then(() => {
        this.bigDone = true;
        batchSeconds = (Date.now() - submittedAt) / 1000;
        this.note(`batch ${this.batchId} done after ${batchSeconds.toFixed(1)} s`);
      });
    const chaos = this.#chaosLoop();
    const small = this.#runSmallBatches();
    const single = this.#produce().then(() => this.#awaitSingles());
    const deadline = Date.now() + timeoutS * 1000;
    try {
      await within(timeoutS * 1000, () => `not everything was done after ${timeoutS} s: ${this.#pendingText()}`, Promise.all([big, small, single]));
    } finally {
      this.finished = true;
      // Each step is bounded (READY_MS); this bounds the whole, so a hang is reported, not waited out.
      await within(2 * READY_MS, 'the kill-and-restart steps did not end', chaos);
    }
    if (this.lossy) await this.#settle(deadline);
    const seconds = (Date.now() - submittedAt) / 1000;
    this.note(`everything done after ${seconds.toFixed(1)} s`);
    return { batchSeconds, seconds };
  }

  #othersText() {
    const s = this.single;
    const batchesDone = this.smallBatches.filter((batch) => batch.seconds !== undefined).length;
    return `batches done ${batchesDone}/${this.smallBatches.length}, single jobs added ${number(s.added)}/${number(this.o.singleJobs)}`;
  }

  #pendingText() {
    const big = `big batch ${number(this.done)}/${number(this.o.jobs)} jobs recorded or dead`;
    const batches = this.smallBatches.filter((batch) => batch.seconds === undefined).map((batch) => batch.id);
    const s = this.single;
    return `${big}; batches not done: ${batches.length === 0 ? 'none' : batches.join(', ')}; single jobs: ${number(s.calls)} add calls made, ${number(s.answered)} answered${
      s.outcomes === undefined ? '' : `, ${number(s.outcomes)} with an outcome`
    }${s.allDoneAt === undefined ? '' : ', every bucket done'}`;
  }

  /** Submits each smaller batch at its point of the big batch's progress, and waits for each to be done. */
  async #runSmallBatches() {
    const { jobs, workMs, payloadBytes } = this.o;
    await Promise.all(
      this.smallBatches.map(async (batch, k) => {
        // With faults that lose writes, the last one is submitted while the first of them is losing
        // writes (1 s into it): Redis may lose its submission, which submitAndWait makes again.
        batch.inLoss = this.lossy && k === this.smallBatches.length - 1;
        const due = batch.inLoss
          ? () => this.bigDone || (this.lossWindows.length > 0 && Date.now() - this.lossWindows[0].from >= LOSS_SUBMIT_MS)
          : () => this.done >= batch.at * jobs;
        while (!this.finished && !due()) await sleep(50);
        if (this.finished) return;
        batch.submittedAt = Date.now();
        // submitAndWait (as `jobpipe submit --wait`): a submission Redis lost is made again under its id.
        const submitAndWait = () =>
          this.client.submitAndWait(
            this.loaded[batch.pipeline],
            { jobs: batch.jobs, payloadBytes, workMs },
            { batchId: batch.id, ...(batch.priority === undefined ? {} : { priority: batch.priority }) },
            {
              pollMs: 250,
              onSubmitted: (_id, again) => {
                if (!again && !batch.lostWhole) {
                  this.note(
                    `submitted batch ${batch.id}: ${number(batch.jobs)} ${batch.pipeline} jobs${batch.priority === undefined ? '' : `, priority ${batch.priority}`}${batch.inLoss ? ', while Redis is losing writes' : ''}`,
                  );
                  return;
                }
                if (!again) return; // made again below, after Redis lost it whole: noted there
                batch.resubmitted = (batch.resubmitted ?? 0) + 1;
                this.note(`batch ${batch.id} submitted again: Redis lost its submission (submitAndWait)`);
              },
              onProgress: (report) => {
                batch.done = report.done ?? batch.done;
              },
            },
          );
        const untilFinished = (async () => {
          while (!this.finished) await sleep(250);
          return false;
        })();
        if (!(await Promise.race([submitAndWait().then(() => true), untilFinished]))) return;
        // Done before the fault was over, the batch may be lost whole (its submission, its jobs and
        // its summary): submitAndWait has answered by then, so it is made again here, as its caller
        // would when it finds it unknown.
        while (batch.inLoss && !this.finished) {
          while (!this.finished && (this.oneOffBusy || this.lossWindows.some((window) => window.to === undefined))) await sleep(100);
          if (this.finished || (await this.client.status(batch.pipeline, batch.id)) !== undefined) break;
          batch.lostWhole = (batch.lostWhole ?? 0) + 1;
          this.note(`batch ${batch.id} was done, then Redis lost it whole with the writes it lost: submitting it again (submitAndWait)`);
          if (!(await Promise.race([submitAndWait().then(() => true), untilFinished]))) return;
        }
        batch.seconds = (Date.now() - batch.submittedAt) / 1000;
        this.note(`batch ${batch.id} done after ${batch.seconds.toFixed(1)} s`);
      }),
    );
  }

  /**
   * The producer: adds the single jobs one add call each, as many as are due every 20 ms: by the
   * big batch's progress, all of them by SINGLE_BY_PROGRESS of its jobs, so that they span the
   * one-off kills; or by the clock, all of them over twice a rough estimate of its time, whichever
   * is further (the clock keeps them coming while the big batch stalls). Calls of one turn share a round
   * trip (the client's own batching); each is still its own call with its own answer.
   */
  async #produce() {
    const { singleJobs: n, jobs, workMs, workers, concurrency } = this.o;
    if (n === 0) return;
    // With two pipelines, the big batch has the workers serving echo.
    const echoWorkers = this.pools ? this.workersOf(PIPELINE).length : workers;
    const estimateS = 2 * ((jobs * Math.max(workMs, 0.2)) / (echoWorkers * concurrency) / 1000 + 5);
    const startedAt = Date.now();
    const calls = [];
    /** Second add calls of keyed jobs: { at: the index after which to make it, entry }. */
    const again = [];
    let i = 0;
    while (!this.finished && (i < n || again.length > 0)) {
      const byClock = (Date.now() - startedAt) / 1000 / estimateS;
      const byProgress = this.done / (SINGLE_BY_PROGRESS * jobs);
      const due = i >= n ? n : Math.min(n, Math.ceil(n * Math.max(byClock, byProgress)));
      for (; i < due; i++) {
        const entry = this.#planSingle(i);
        calls.push(this.#add(i, entry));
        if (entry.key) again.push({ at: Math.min(n, i + 10 + this.plan.int(150)), entry });
      }
      for (let k = again.length - 1; k >= 0; k--) {
        if (again[k].at > i) continue;
        const [{ entry }] = again.splice(k, 1);
        calls.push(this.#addAgain(entry));
      }
      await sleep(20);
    }
    await Promise.all(calls);
    this.note(
      `single jobs: ${number(this.single.answered)} add calls answered (${this.single.keyed.length} keys given twice, ${this.single.withPriority} with a priority, ${this.single.delayed} delayed)`,
    );
  }

  /** The options of single job i: one in 7 with priority 2, one in 20 delayed by 0.1-1.5 s, one in KEYED_EVERY with a key. */
  #planSingle(i) {
    const options = {};
    if (i % 7 === 3) options.priority = 2;
    if (i % 20 === 9) options.delayMs = Math.round(this.plan.between(100, 1500));
    const key = i % KEYED_EVERY === 12 ? `${this.batchId}-key-${i}` : undefined;
    if (key) options.jobId = key;
    return { i, key, options };
  }

  async #add(i, { key, options }) {
    const s = this.single;
    s.added++;
    s.calls++;
    if (options.priority !== undefined) s.withPriority++;
    if (options.delayMs !== undefined) s.delayed++;
    const keyed = key ? { i, key, again: this.againIndex(s.keyed.length), options, first: undefined, second: undefined } : undefined;
    if (keyed) s.keyed.push(keyed);
    try {
      const id = await this.client.add(PIPELINE, { i, workMs: this.o.workMs }, options);
      s.ids[i] = id;
      s.answeredAt[i] = Date.now();
      s.answered++;
      if (keyed) {
        keyed.first = id;
        keyed.firstAt = s.answeredAt[i];
      }
    } catch (error) {
      s.addErrors.push(`add of single job ${i}: ${error.message}`);
    }
    return keyed;
  }

  /** The second add call of a keyed job: another payload, the same key; once the first has its answer. */
  async #addAgain(entry) {
    const keyed = this.single.keyed.find((k) => k.i === entry.i);
    // The first call has to be answered first: two calls of one turn would test nothing.
    while (keyed.first === undefined && !this.finished && !this.single.addErrors.some((e) => e.startsWith(`add of single job ${entry.i}:`))) await sleep(20);
    this.single.calls++;
    try {
      keyed.second = await this.client.add(PIPELINE, { i: keyed.again, workMs: this.o.workMs }, keyed.options);
      keyed.secondAt = Date.now();
      this.single.answered++;
    } catch (error) {
      this.single.addErrors.push(`second add of key ${keyed.key}: ${error.message}`);
    }
  }

  /** Whether a call answered at `at` was answered while Redis was losing writes (see lossWindows): its job may be lost. */
  atRisk(at) {
    return at !== undefined && this.lossWindows.some((window) => at >= window.from && (window.to === undefined || at <= window.to));
  }

  /**
   * Once a fault lost writes, what the faults lost is repaired by the checks that follow it: waits
   * (until `deadline`) for the big batch, every smaller one and every bucket of single jobs answered
   * outside a loss to be done in the ledger again, before the verdict is read.
   */
  async #settle(deadline) {
    const ids = [
      this.batchId,
      ...this.smallBatches.filter((batch) => batch.submittedAt !== undefined).map((batch) => batch.id),
      ...(this.single.safeBuckets ?? []),
    ];
    let pending = ids;
    while (pending.length > 0 && Date.now() < deadline) {
      const infos = await Promise.all(pending.map((id) => this.client.ledger.batchInfo(id)));
      pending = pending.filter((_, k) => infos[k]?.status !== 'done');
      if (pending.length > 0) await sleep(250);
    }
    if (pending.length > 0) this.note(`not done in the ledger after the faults: ${pending.join(', ')}`);
  }

  /**
   * Waits for every single job to have an outcome, then for every bucket they landed in to be done.
   * With faults that lose writes: once they are over; a job answered while Redis was losing writes
   * (atRisk) may be gone, so it is waited for only while it is known and not done, AT_RISK_GRACE_MS
   * at most once every other is done.
   */
  async #awaitSingles() {
    const s = this.single;
    if (!s.ids.some(Boolean)) return;
    // Which calls Redis may have lost is known once no fault is under way or to come.
    while (!this.finished && (this.oneOffBusy || (this.oneOffsLeft > 0 && !this.bigDone))) await sleep(100);
    const safe = new Set();
    const risky = new Set();
    s.ids.forEach((id, i) => {
      if (id) (this.atRisk(s.answeredAt[i]) ? risky : safe).add(id);
    });
    // A key whose first call Redis lost gives a job of its own to the second call.
    for (const keyed of s.keyed) if (keyed.second && keyed.second !== keyed.first) (this.atRisk(keyed.secondAt) ? risky : safe).add(keyed.second);
    for (const id of safe) risky.delete(id);
    s.outcomes = 0;
    await Promise.all(
      [...safe].map((id) =>
        this.client.waitForJob(id).then(() => {
          s.outcomes++;
        }),
      ),
    );
    if (risky.size > 0) {
      this.note(
        `single jobs: the ${number(safe.size)} answered outside a loss of writes have an outcome; ${number(risky.size)} were answered while Redis was losing writes`,
      );
      const graceEnds = Date.now() + AT_RISK_GRACE_MS;
      let pending = [...risky];
      s.riskyStates = {};
      while (pending.length > 0 && !this.finished && Date.now() < graceEnds) {
        const reports = await Promise.all(pending.map((id) => this.client.getJob(id)));
        reports.forEach((report, k) => {
          s.riskyStates[pending[k]] = report?.state ?? 'unknown';
        });
        // Never coming: a job past the total of a bucket that is done, or in flight in a bucket the
        // ledger does not know (Redis lost its begin): a write-ahead from Redis's lost future lingers.
        const buckets = new Map();
        for (const id of pending) buckets.set(parseJobId(id).bucket, undefined);
        await Promise.all([...buckets.keys()].map(async (bucket) => buckets.set(bucket, await this.client.ledger.batchInfo(bucket))));
        const orphan = (id, report) => {
          const { bucket, seq } = parseJobId(id);
          const info = buckets.get(bucket);
          if (!info) return report.state === 'running';
          return info.status === 'done' && typeof info.total === 'number' && seq >= info.total;
        };
        const left = pending.filter(
          (id, k) => reports[k] !== undefined && reports[k].state !== 'done' && reports[k].state !== 'failed' && !orphan(id, reports[k]),
        );
        s.outcomes += pending.length - left.length;
        pending = left;
        if (pending.length > 0) await sleep(250);
      }
      s.riskyUnsettled = pending.length;
      this.note(
        `single jobs answered while Redis was losing writes: ${number(risky.size - pending.length)} done or gone, ${number(pending.length)} still waiting`,
      );
    }
    const buckets = [...new Set([...safe].map((id) => parseJobId(id).bucket))];
    s.safeBuckets = buckets;
    this.note(
      `single jobs: all ${number(safe.size)}${risky.size > 0 ? ' answered outside a loss of writes' : ''} have an outcome; waiting for their ${buckets.length} bucket(s) to be done`,
    );
    let pending = buckets;
    while (pending.length > 0 && !this.finished) {
      const infos = await Promise.all(pending.map((bucket) => this.client.ledger.batchInfo(bucket)));
      pending = pending.filter((_, k) => infos[k]?.status !== 'done');
      if (pending.length > 0) await sleep(250);
    }
    // A bucket that only jobs answered while Redis was losing writes landed in is closed like any
    // other once Redis kept it: waited for too while the ledger knows it and it is not done,
    // AT_RISK_GRACE_MS at most (the verdict then reads it; one Redis lost whole is not waited for).
    let riskyPending = [...new Set([...risky].map((id) => parseJobId(id)?.bucket))].filter((bucket) => bucket !== undefined && !buckets.includes(bucket));
    const riskyBuckets = riskyPending.length;
    const riskyGraceEnds = Date.now() + AT_RISK_GRACE_MS;
    while (riskyPending.length > 0 && !this.finished && Date.now() < riskyGraceEnds) {
      const infos = await Promise.all(riskyPending.map((bucket) => this.client.ledger.batchInfo(bucket)));
      riskyPending = riskyPending.filter((_, k) => infos[k] !== undefined && infos[k] !== null && infos[k].status !== 'done');
      if (riskyPending.length > 0) await sleep(250);
    }
    s.allDoneAt = Date.now();
    this.note(
      `single jobs: every bucket done (${buckets.length})${riskyBuckets > 0 ? `; of the ${riskyBuckets} only jobs answered while Redis was losing writes landed in, ${riskyPending.length} known and not done` : ''}`,
    );
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
    let oneOffIndex = 0;
    this.oneOffsLeft = this.schedule.length;
    let doneAfterLastOneOff = 0;
    let lastScrape = 0;
    let signature = '';
    let movedAt = Date.now();
    let stallNotes = 0;
    while (!this.finished) {
      const now = Date.now();
      // Stalls: nothing of any kind done for STALL_MS (the big batch, the smaller ones, single jobs).
      const s = this.single;
      const moved = [this.done, ...this.smallBatches.map((batch) => batch.done ?? 0), s.answered, s.outcomes ?? 0, s.allDoneAt ?? 0].join('|');
      if (moved !== signature) {
        if (stallNotes > 0) this.note(`moving again after ${((now - movedAt) / 1000).toFixed(1)} s without a job done`);
        this.longestStallMs = Math.max(this.longestStallMs, now - movedAt);
        signature = moved;
        movedAt = now;
        stallNotes = 0;
      } else if (now - movedAt >= STALL_MS * (stallNotes + 1)) {
        stallNotes++;
        void this.#noteStall(now - movedAt);
      }
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
      // One-off kills and Redis faults: each at its point of the run, only after the stack made
      // progress again, and none once the big batch is done (the single jobs' verdict needs to know
      // when Redis lost writes, before it waits for them).
      const next = this.schedule[oneOffIndex];
      if (next && !this.oneOffBusy && !this.bigDone && this.done >= next[1] * jobs && this.done >= doneAfterLastOneOff + Math.max(1, Math.ceil(jobs * 0.02))) {
        const [kind] = next;
        oneOffIndex++;
        this.oneOffBusy = true;
        const step = {
          ventilator: () => this.#killVentilator(),
          sink: () => this.#killSink(),
          kill: () => this.#killRedis(),
          snapshot: () => this.#restoreSnapshot(),
          failover: () => this.#failover(),
        }[kind];
        const what = { kill: 'killing and restarting Redis', snapshot: 'restoring Redis from a snapshot', failover: 'failing Redis over' }[kind];
        tasks.push(
          step()
            .catch(failed(what ?? `killing and restarting the ${kind}`))
            .finally(() => {
              this.oneOffBusy = false;
              this.oneOffsLeft--;
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

  /** A stall: what the ventilator and the sink report, in the timeline. */
  async #noteStall(ms) {
    const read = async (process, names) => (process?.running && this.ready.has(process) ? await scrapeValues(process.url('/metrics'), names) : undefined);
    const [ventilator, sink] = await Promise.all([read(this.stack?.ventilator, STALL_GAUGES.ventilator), read(this.stack?.sink, STALL_GAUGES.sink)]);
    const text = (values) =>
      values
        ? Object.entries(values)
            .map(([name, value]) => `${name.replace(/^jobpipe_/, '')} ${value}`)
            .join(', ')
        : 'no answer';
    this.note(`STALL: no job done for ${(ms / 1000).toFixed(0)} s (${this.#pendingText()}); ventilator: ${text(ventilator)}; sink: ${text(sink)}`);
  }

  /** Waits for a (re)started process to be ready, at most READY_MS. */
  #ready(process) {
    return within(READY_MS, `${process.name} (pid ${process.child.pid}) was not ready ${READY_MS / 1000} s after it started`, process.ready);
  }

  async #sigkill(process) {
    this.#expectedExit.add(process);
    process.child.kill('SIGKILL');
    await process.exited;
  }

  async #killWorker() {
    const workers = this.stack.workers;
    let candidates = workers.map((worker, index) => ({ worker, index })).filter(({ worker }) => worker.running && this.ready.has(worker));
    if (candidates.length === 0) return;
    // With two pipelines, the kills take the pools in turn (a random worker of the pool whose turn
    // it is; any, when none of it is ready), so that every pool loses workers.
    if (this.pools) {
      const pool = this.poolOrder[this.poolTurn++ % this.poolOrder.length];
      const inPool = candidates.filter(({ worker }) => this.pools[worker.name] === pool);
      if (inPool.length > 0) candidates = inPool;
    }
    const { worker, index } = this.random.pick(candidates);
    const pid = worker.child.pid;
    await this.#sigkill(worker);
    this.kills.worker++;
    const pool = this.pools?.[worker.name];
    if (pool !== undefined) this.poolKills[pool]++;
    // The replacement joins the same pool (workerEnv: the same pipelines).
    const next = this.#track(await this.stack.spawn('worker', { JOBPIPE_WORKER_ID: worker.name, ...this.workerEnv(worker.name) }, worker.name));
    workers[index] = next;
    this.note(`SIGKILL ${worker.name}${pool === undefined ? '' : ` (pool ${pool})`} (pid ${pid}); restarted as pid ${next.child.pid}`);
    await this.#ready(next);
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
    await this.#ready(next);
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
    await this.#ready(next);
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

  /** HLEN of the big batch's results on one server, for the timeline ('?' when it does not answer). */
  async #resultsOn(server) {
    return server.command(['HLEN', this.client.ledger.keys.batch(this.batchId).results]).then(Number, () => '?');
  }

  /**
   * `snapshot`: a backup of Redis now, and SNAPSHOT_AGE_MS later Redis restored from it alone (its
   * AOF deleted): every write acknowledged in between is gone.
   */
  async #restoreSnapshot() {
    const server = this.redis;
    const window = { kind: 'snapshot', from: Date.now(), to: undefined };
    this.lossWindows.push(window);
    const snapshot = await server.snapshot();
    const atSnapshot = await this.#resultsOn(server);
    this.note(`Redis snapshot taken (big batch: ${atSnapshot} results); restoring it in ${SNAPSHOT_AGE_MS / 1000} s`);
    await sleep(SNAPSHOT_AGE_MS);
    const atKill = await this.#resultsOn(server);
    await server.restartFrom(snapshot);
    window.to = Date.now();
    this.kills.snapshot++;
    const restored = await this.#resultsOn(server);
    const text = `Redis SIGKILLed with ${atKill} results of the big batch and restarted from the snapshot: ${restored} right after`;
    this.faultNotes.push({ kind: 'snapshot', at: window.from - this.startedAt, text });
    this.note(text);
  }

  /**
   * `failover`: the replica paused (it stops receiving the master's writes) for REPLICA_LAG_MS while
   * jobs flow, the master SIGKILLed, the replica resumed and promoted by the Sentinels without
   * those writes. The old master stays down; the harness and the roles follow the new one.
   */
  async #failover() {
    const set = this.sentinelSet;
    const window = { kind: 'failover', from: Date.now(), to: undefined };
    this.lossWindows.push(window);
    await set.pauseReplica();
    this.note(`Redis replica (port ${set.replica.port}) paused; the master goes on alone for ${REPLICA_LAG_MS / 1000} s`);
    await sleep(REPLICA_LAG_MS);
    const atKill = await this.#resultsOn(set.master);
    await set.killMaster();
    set.resumeReplica();
    this.note(`Redis master (port ${set.master.port}) SIGKILLed with ${atKill} results of the big batch; replica resumed, waiting for the failover`);
    await set.waitForFailover(45_000);
    window.to = Date.now();
    this.redis = set.replica;
    this.kills.failover++;
    const promoted = await this.#resultsOn(set.replica);
    const text = `failover done in ${((window.to - window.from) / 1000).toFixed(1)} s: the promoted replica (port ${set.replica.port}) has ${promoted} results of the big batch, the master had ${atKill}`;
    this.faultNotes.push({ kind: 'failover', at: window.from - this.startedAt, text });
    this.note(text);
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

  /** Waits up to `ms` for a batch's intake (BullMQ) job to be completed (the ventilator saw the batch end). */
  async intakeState(batchId, ms = 15_000, pipeline = PIPELINE) {
    const deadline = Date.now() + ms;
    let state = 'unknown';
    while (Date.now() < deadline) {
      const job = await this.client.queue(pipeline).getJob(batchId);
      state = job ? await job.getState() : 'missing';
      if (state === 'completed' || state === 'failed') return state;
      await sleep(250);
    }
    return state;
  }

  /** What is left in the ledger of a batch or bucket, for the log dump when something went wrong. */
  async ledgerSnapshot(batchId) {
    const redis = this.client.redis;
    const keys = this.client.ledger.keys.batch(batchId);
    const [meta, inflight, leases, dead, errors] = await Promise.all([
      redis.hgetall(keys.meta),
      redis.hscan(keys.inflight, '0', 'COUNT', 200).then(([, entries]) => entries),
      redis.zrange(keys.leases, 0, 199, 'WITHSCORES'),
      redis.hscan(keys.dead, '0', 'COUNT', 200).then(([, entries]) => entries),
      redis.hscan(keys.errors, '0', 'COUNT', 200).then(([, entries]) => entries),
    ]);
    return { batch: batchId, now: Date.now(), meta, inflight, leases, dead, errors };
  }

  /**
   * The verdict, from Redis: the big batch, each smaller batch, and each bucket of single jobs
   * (those the ids name, and any other batch in the ledger: none should be there), then the single
   * jobs one by one. Pushes a line to `failures` for every check that fails.
   */
  async verifyAll(failures) {
    const redis = this.client.redis;
    const keys = (id) => this.client.ledger.keys.batch(id);
    const big = await verifyBatch(redis, keys(this.batchId), this.o.jobs);
    checkFailures(failures, `big batch ${this.batchId}`, big, this.o.jobs);
    const batches = [];
    for (const batch of this.smallBatches) {
      if (batch.submittedAt === undefined) {
        failures.push(`batch ${batch.id} was never submitted (the big batch ended first?)`);
        continue;
      }
      // A tally job answers 3i + 1, not its seq.
      const check = await verifyBatch(redis, keys(batch.id), batch.jobs, batch.pipeline === PIPELINE ? {} : { expected: PIPELINES[batch.pipeline].value });
      checkFailures(failures, `batch ${batch.id}`, check, batch.jobs);
      batches.push({ batch, check });
    }
    const single = await this.#verifySingles(failures);
    const perPipeline = this.pools ? this.#verifyPipelines(failures, big, batches, single) : undefined;
    return { big, batches, single, perPipeline };
  }

  /**
   * --pipelines 2, per pipeline: each batch's answer is the one its pipeline must give
   * ({ count, sum, failed: 0 }), and no worker recorded a job of a pipeline its pool does not serve
   * (the ledger's per-worker counts of each batch and bucket, and its summary's perWorker).
   */
  #verifyPipelines(failures, big, batches, single) {
    const entries = [
      { pipeline: PIPELINE, label: `big batch ${this.batchId}`, jobs: this.o.jobs, check: big, batch: true },
      ...batches.map(({ batch, check }) => ({ pipeline: batch.pipeline, label: `batch ${batch.id}`, jobs: batch.jobs, check, batch: true })),
      // The single jobs' buckets are echo's; their answers fold the values add gave, checked by verifyBatch.
      ...single.buckets
        .filter((bucket) => bucket.known)
        .map((bucket) => ({ pipeline: PIPELINE, label: `bucket ${bucket.bucket}`, check: bucket.check, batch: false })),
    ];
    const result = Object.fromEntries([PIPELINE, SECOND].map((pipeline) => [pipeline, { wrongAnswers: 0, foreignJobs: 0, foreignExamples: [] }]));
    for (const { pipeline, label, jobs, check, batch } of entries) {
      const own = result[pipeline];
      if (batch) {
        const answer = check.summary?.answer;
        const want = { count: jobs, sum: PIPELINES[pipeline].sum(jobs), failed: 0 };
        if (answer?.count !== want.count || answer?.sum !== want.sum || answer?.failed !== want.failed) {
          own.wrongAnswers++;
          failures.push(
            `${label} (${pipeline}): answer ${JSON.stringify(answer ? { count: answer.count, sum: answer.sum, failed: answer.failed } : null)}, not ${JSON.stringify(want)}`,
          );
        }
      }
      const counts = { ...check.workers };
      for (const [worker, count] of Object.entries(check.summary?.perWorker ?? {})) counts[worker] = Math.max(counts[worker] ?? 0, Number(count));
      for (const [worker, count] of Object.entries(counts)) {
        const pool = this.pools[worker];
        if (count === 0 || (pool !== undefined && poolServes(pool).includes(pipeline))) continue;
        own.foreignJobs += count;
        own.foreignExamples.push(`${worker} (pool ${pool ?? 'none'}): ${count} in ${label}`);
      }
    }
    for (const [pipeline, own] of Object.entries(result))
      if (own.foreignJobs > 0)
        failures.push(
          `${pipeline}: ${own.foreignJobs} job(s) recorded by a worker whose pool does not serve ${pipeline}: ${own.foreignExamples.slice(0, 3).join('; ')}${own.foreignExamples.length > 3 ? '; ...' : ''}`,
        );
    return result;
  }

  async #verifySingles(failures) {
    const s = this.single;
    const redis = this.client.redis;
    const ledger = this.client.ledger;
    // Every call answered with a job of its own: its payload index, id, when it was answered and
    // whether Redis may have lost it since (answered while Redis was losing writes). A key whose
    // first call Redis may have lost gives the second call a job of its own.
    const claims = [];
    s.ids.forEach((id, i) => {
      if (id !== undefined) claims.push({ i, id, at: s.answeredAt[i], risky: this.atRisk(s.answeredAt[i]) });
    });
    for (const keyed of s.keyed)
      if (keyed.first !== undefined && keyed.second !== undefined && keyed.second !== keyed.first && this.atRisk(keyed.firstAt))
        claims.push({ i: keyed.again, id: keyed.second, at: keyed.secondAt, risky: this.atRisk(keyed.secondAt) });
    claims.sort((a, b) => a.at - b.at);
    /** Claims Redis lost with the writes it lost (docs/durability.md: not repaired), and why. */
    const lostWithWrites = new Map();
    // Each bucket's seqs and the claim that owns each. Redis, gone back in time, may answer a later
    // call with the id of a job it lost: the later call owns it then.
    const bySeq = new Map();
    const idCollisions = [];
    for (const claim of claims) {
      const parsed = parseJobId(claim.id);
      if (!parsed) {
        failures.push(`single job ${claim.i}: add answered with ${JSON.stringify(claim.id)}, which is no job id`);
        continue;
      }
      let seqs = bySeq.get(parsed.bucket);
      if (!seqs) bySeq.set(parsed.bucket, (seqs = new Map()));
      const before = seqs.get(parsed.seq);
      if (before && !before.risky) {
        idCollisions.push(`${claim.id} (single jobs ${before.i} and ${claim.i})`);
        continue;
      }
      if (before) lostWithWrites.set(before, `its id was given again to single job ${claim.i}`);
      seqs.set(parsed.seq, claim);
    }
    // Any batch in the ledger that is none of ours holds jobs nobody was answered with.
    const known = new Set([this.batchId, ...this.smallBatches.map((batch) => batch.id), ...bySeq.keys()]);
    const unknown = (await ledger.listBatches(1_000_000)).filter((id) => !known.has(id));
    // How many times each payload index was recorded, over every bucket (a job runs once per add call).
    const runs = new Uint16Array(this.againIndex(s.keyed.length));
    let notPlanned = 0;
    const onValue = (_seq, value) => {
      if (Number.isInteger(value) && value >= 0 && value < runs.length) runs[value]++;
      else notPlanned++;
    };
    const buckets = [];
    for (const bucket of [...bySeq.keys(), ...unknown]) {
      const seqs = bySeq.get(bucket) ?? new Map();
      const info = await ledger.batchInfo(bucket);
      const owners = [...seqs.values()];
      if (!info && owners.length > 0 && owners.every((claim) => claim.risky)) {
        // Redis lost the whole bucket, with the only jobs added to it.
        for (const claim of owners)
          lostWithWrites.set(claim, `Redis lost its bucket (getJob said ${s.riskyStates?.[claim.id] ?? '-'} in the last look before the verdict)`);
        continue;
      }
      let highest = -1;
      for (const seq of seqs.keys()) highest = Math.max(highest, seq);
      const total = info?.total ?? highest + 1;
      let check = await verifyBatch(redis, keys(bucket), total, { expected: (seq) => seqs.get(seq)?.i, onValue });
      if (info && info.status !== 'done' && owners.length > 0 && owners.every((claim) => claim.risky)) {
        // Every job of the bucket was added while Redis was losing writes, and Redis lost part of
        // it (its close, jobs the ventilator had not written ahead again): the ledger knows it from
        // the jobs that were recorded after, and it stays running (docs/durability.md, "single
        // jobs added after T": not repaired). Its jobs without a result are lost with the writes;
        // what it recorded must still be right and once.
        for (const [seq, claim] of seqs)
          if (!(await redis.hexists(keys(bucket).results, String(seq))))
            lostWithWrites.set(claim, `Redis lost part of its bucket, which stays running (getJob said ${s.riskyStates?.[claim.id] ?? '-'})`);
        const partial = [];
        checkFailures(partial, bucket, check, check.results);
        failures.push(...partial.filter((failure) => /more than once|dead letter|wrong value/.test(failure)).map((failure) => `bucket ${failure}`));
        check = { ...check, lost: 0, jobs: check.results };
        buckets.push({ bucket, known: true, total, check, beyond: 0, partial: true });
        continue;
      }
      let beyond = 0;
      for (const [seq, claim] of seqs)
        if (seq >= total) {
          if (claim.risky) lostWithWrites.set(claim, `beyond its bucket's total of ${total}`);
          else beyond++;
        }
      const label = `${bySeq.has(bucket) ? 'bucket' : 'batch nobody submitted or was answered with'} ${bucket}`;
      if (info?.total === null || info?.total === undefined) failures.push(`${label}: no total in the ledger (never closed?)`);
      if (info?.status !== 'done') failures.push(`${label}: status ${info?.status ?? 'unknown'}, not done`);
      if (beyond > 0) failures.push(`${label}: ${beyond} id(s) add answered with are beyond its total of ${total}`);
      if (check.unclaimed > 0)
        failures.push(`${label}: ${check.unclaimed} recorded job(s) that no add call was answered with (a job added twice by one call?)`);
      checkFailures(failures, label, check, total);
      buckets.push({ bucket, known: bySeq.has(bucket), total, check, beyond });
    }
    function keys(id) {
      return ledger.keys.batch(id);
    }

    // Each id, as a caller reads it: done, with its own payload's index (echo answers payload.i).
    // One Redis may have lost (risky) and that is not done with its own value is lost with the writes.
    const answered = [...bySeq.values()].flatMap((seqs) => [...seqs.values()]).filter((claim) => !lostWithWrites.has(claim));
    let done = 0;
    let failedJobs = 0;
    let notDone = 0;
    let wrongOutcomes = 0;
    const examples = [];
    const lostExamples = [];
    for (let start = 0; start < answered.length; start += 500) {
      const chunk = answered.slice(start, start + 500);
      const reports = await Promise.all(chunk.map(({ id }) => this.client.getJob(id)));
      reports.forEach((report, k) => {
        const claim = chunk[k];
        const { i, id } = claim;
        const problem =
          report === undefined
            ? 'unknown'
            : report.state === 'failed'
              ? 'failed'
              : report.state !== 'done'
                ? report.state
                : report.value !== i
                  ? 'wrong value'
                  : undefined;
        if (problem === undefined) {
          done++;
          return;
        }
        if (claim.risky) {
          lostWithWrites.set(claim, `${problem} (${JSON.stringify(report)})`);
          return;
        }
        if (problem === 'failed') failedJobs++;
        else if (problem === 'wrong value') wrongOutcomes++;
        else notDone++;
        if (examples.length < 10) examples.push({ i, id, problem, report });
      });
    }
    for (const [claim, why] of lostWithWrites) if (lostExamples.length < 10) lostExamples.push({ i: claim.i, id: claim.id, why });
    let executedTwice = 0;
    let neverRan = 0;
    for (const claim of answered) {
      if (lostWithWrites.has(claim)) continue;
      if (runs[claim.i] > 1) executedTwice += runs[claim.i] - 1;
      if (runs[claim.i] === 0) neverRan++;
    }
    let keyedUnanswered = 0;
    let keyedTwoIds = 0;
    let keyedRanAgain = 0;
    let keyedLost = 0;
    for (const keyed of s.keyed) {
      if (keyed.first === undefined || keyed.second === undefined) keyedUnanswered++;
      else if (this.atRisk(keyed.firstAt)) {
        // Redis may have lost the key with the first call's job: the second call then adds a job of its own.
        if (keyed.second !== keyed.first) keyedLost++;
        continue;
      } else if (keyed.first !== keyed.second) keyedTwoIds++;
      if (runs[keyed.again] > 0) keyedRanAgain++;
    }
    if (notDone > 0) failures.push(`${notDone} single job(s) not done when read by id (getJob)`);
    if (failedJobs > 0) failures.push(`${failedJobs} single job(s) failed (dead letters)`);
    if (wrongOutcomes > 0) failures.push(`${wrongOutcomes} single job(s) done with another value than their payload's`);
    if (executedTwice > 0) failures.push(`${executedTwice} extra recorded run(s) of single jobs added by one call`);
    if (neverRan > 0) failures.push(`${neverRan} single job(s) add answered for have no recorded result in any bucket`);
    if (notPlanned > 0) failures.push(`${notPlanned} recorded single job value(s) that no add call carried`);
    if (idCollisions.length > 0) failures.push(`one id answered to two add calls: ${idCollisions.slice(0, 5).join(', ')}`);
    if (keyedUnanswered > 0) failures.push(`${keyedUnanswered} key(s) given twice whose calls were not both answered`);
    if (keyedTwoIds > 0) failures.push(`${keyedTwoIds} key(s) given twice that were answered with two ids`);
    if (keyedRanAgain > 0) failures.push(`${keyedRanAgain} key(s) given twice whose second payload ran`);
    for (const error of s.addErrors.slice(0, 10)) failures.push(`add rejected: ${error}`);
    if (s.addErrors.length > 10) failures.push(`... ${s.addErrors.length - 10} more add calls rejected`);
    return {
      ids: claims.length,
      risky: claims.filter((claim) => claim.risky).length,
      lostWithWrites: lostWithWrites.size,
      lostExamples,
      buckets,
      unknown,
      done,
      failedJobs,
      notDone,
      wrongOutcomes,
      examples,
      executedTwice,
      neverRan,
      notPlanned,
      idCollisions: idCollisions.length,
      keyedUnanswered,
      keyedTwoIds,
      keyedRanAgain,
      keyedLost,
    };
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
      if (this.sentinelSet) await this.sentinelSet.stop().catch(() => {});
      else await this.redis?.stop().catch(() => {});
    })();
    return this.#cleaning;
  }

  /** Last resort from an 'exit' handler: nothing can be awaited there. */
  killNow() {
    for (const process of this.spawned) if (process.running) process.child.kill('SIGKILL');
    if (this.sentinelSet) {
      try {
        this.sentinelSet.killNow();
      } catch {
        // best effort
      }
    } else if (this.redis) {
      void this.redis.kill('SIGKILL').catch(() => {});
      try {
        rmSync(this.redis.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      } catch {
        // best effort
      }
    }
  }
}

/** Pushes a line to `failures` for each check of one batch or bucket that fails. */
function checkFailures(failures, label, check, jobs) {
  if (check.lost > 0) failures.push(`${label}: ${check.lost} job(s) have no recorded result`);
  if (check.duplicates > 0) failures.push(`${label}: ${check.duplicates} result(s) recorded or folded more than once`);
  if (check.dead > 0) failures.push(`${label}: ${check.dead} dead letter(s)`);
  if (check.unfolded > 0) failures.push(`${label}: ${check.unfolded} recorded result(s) missing from the sink's answer`);
  if (check.wrongValues > 0 || check.outOfRange > 0) failures.push(`${label}: ${check.wrongValues + check.outOfRange} result(s) with a wrong value or seq`);
  if (check.results !== jobs) failures.push(`${label}: HLEN of the results is ${check.results}, not ${jobs}`);
}

/** The figures of one kind of job over its checks (verify.mjs results). */
function kindFigures(checks, extra = {}) {
  const sum = (field) => checks.reduce((total, check) => total + check[field], 0);
  return {
    jobs: extra.jobs ?? sum('jobs'),
    results: sum('results'),
    lost: sum('lost') + (extra.lost ?? 0),
    duplicates: sum('duplicates') + (extra.duplicates ?? 0),
    dead: sum('dead'),
  };
}

/** The --json figures: totals over every kind, then each kind's (see chaos/README.md). */
function figures(chaos, verdict, times) {
  const { big, batches, single } = verdict;
  const bucketChecks = single.buckets.map((bucket) => bucket.check);
  const kinds = {
    batch: { ...kindFigures([big]), seconds: times.batchSeconds === null ? null : Math.round(times.batchSeconds * 10) / 10 },
    batches: {
      count: batches.length,
      ...kindFigures(batches.map((b) => b.check)),
      resubmitted: chaos.smallBatches.reduce((total, batch) => total + (batch.resubmitted ?? 0) + (batch.lostWhole ?? 0), 0),
    },
    single: {
      ...kindFigures(bucketChecks, {
        jobs: single.ids,
        lost: single.buckets.reduce((total, bucket) => total + bucket.beyond, 0),
        duplicates: bucketChecks.reduce((total, check) => total + check.unclaimed, 0) + single.idCollisions + single.keyedTwoIds + single.keyedRanAgain,
      }),
      buckets: single.buckets.length,
      keysGivenTwice: chaos.single.keyed.length,
      done: single.done,
      wrongValues: single.wrongOutcomes,
      lostWithWrites: single.lostWithWrites,
    },
  };
  const total = (field) => kinds.batch[field] + kinds.batches[field] + kinds.single[field];
  // --pipelines 2: each pipeline's figures (echo: the big batch, its smaller batches, the single jobs).
  const pipelines = verdict.perPipeline
    ? Object.fromEntries(
        [PIPELINE, SECOND].map((pipeline) => {
          const own = batches.filter(({ batch }) => batch.pipeline === pipeline);
          const parts = [kindFigures(own.map(({ check }) => check)), ...(pipeline === PIPELINE ? [kinds.batch, kinds.single] : [])];
          const sum = (field) => parts.reduce((value, part) => value + part[field], 0);
          const workers = chaos.workersOf(pipeline);
          return [
            pipeline,
            {
              batches: own.length + (pipeline === PIPELINE ? 1 : 0),
              singleJobs: pipeline === PIPELINE ? kinds.single.jobs : 0,
              jobs: sum('jobs'),
              results: sum('results'),
              lost: sum('lost'),
              duplicates: sum('duplicates'),
              dead: sum('dead'),
              wrongAnswers: verdict.perPipeline[pipeline].wrongAnswers,
              foreignJobs: verdict.perPipeline[pipeline].foreignJobs,
              workers,
              workerKills: chaos.poolOrder.filter((pool) => poolServes(pool).includes(pipeline)).reduce((value, pool) => value + chaos.poolKills[pool], 0),
            },
          ];
        }),
      )
    : undefined;
  return {
    jobs: total('jobs'),
    results: total('results'),
    lost: total('lost'),
    duplicates: total('duplicates'),
    redelivered: chaos.redeliveredFromMetrics,
    dead: total('dead'),
    lostWithWrites: single.lostWithWrites,
    kills: { ...chaos.kills },
    seconds: times.seconds === null ? null : Math.round(times.seconds * 10) / 10,
    kinds,
    ...(pipelines ? { pipelines, pools: { ...chaos.poolKills } } : {}),
  };
}

/** The lines about what went wrong in one batch or bucket, if anything did. */
function problemLines(label, check) {
  const lines = [];
  if (check.missing.length > 0) lines.push(`missing seqs (first ${check.missing.length}): ${check.missing.join(', ')}`);
  if (check.wrongValues > 0)
    lines.push(`results whose value is not the expected one: ${check.wrongValues}, e.g. ${JSON.stringify(check.wrongExamples.slice(0, 5))}`);
  if (check.outOfRange > 0) lines.push(`results for seqs outside 0..${check.jobs - 1}: ${check.outOfRange}`);
  if (check.unclaimed > 0) lines.push(`results of jobs no add call was answered with: ${check.unclaimed}`);
  if (check.unfolded > 0) lines.push(`results recorded but not in the sink's answer: ${check.unfolded}`);
  if (check.duplicates > 0) lines.push(`duplicate detectors: ${JSON.stringify(check.detectors)}`);
  if (check.dead > 0) lines.push(`dead letters: ${check.dead}`);
  if (check.recordedAndDead.length > 0) lines.push(`seqs both recorded and dead-lettered (the ledger counts them twice): ${check.recordedAndDead.join(', ')}`);
  if (lines.length > 0) lines.push(`left in the ledger: ${check.inflightLeft} in flight, ${check.leasesLeft} leases; status ${check.status}`);
  return lines.map((line) => `  ${label}: ${line}`);
}

function printReport(chaos, verdict, json, times, intake, failures) {
  const { big, batches, single } = verdict;
  const { kinds } = json;
  const line = (figures) =>
    `results in Redis (HLEN) ${number(figures.results)}; lost ${number(figures.lost)}; duplicates ${number(figures.duplicates)}; dead letters ${number(figures.dead)}`;
  say();
  say(`jobpipe chaos: ${failures.length === 0 ? 'PASS' : 'FAIL'}`);
  say(`  big batch: jobs ${number(kinds.batch.jobs)}; ${line(kinds.batch)}`);
  const d = big.detectors;
  say(
    `    duplicate detectors: ledger 'recorded' counter ${number(d.ledgerRecorded)}, per-worker counts ${number(d.workerCounted)}, sink's fold count ${d.foldCount === null ? 'none' : number(d.foldCount)} and sum ${d.foldSum === null ? 'none' : number(d.foldSum)} (expected ${number(d.expectedSum)})`,
  );
  say(`    left in the ledger: ${big.inflightLeft} in flight, ${big.leasesLeft} leases; batch status ${big.status}; intake (BullMQ) job ${intake.big}`);
  const sizes = chaos.smallBatches
    .map((batch) => `${number(batch.jobs)}${chaos.pools ? ` ${batch.pipeline}` : ''}${batch.priority === undefined ? '' : ` (priority ${batch.priority})`}`)
    .join(', ');
  say(
    `  smaller batches: ${batches.length} of ${chaos.smallBatches.length} run${sizes ? ` (${sizes})` : ''}: jobs ${number(kinds.batches.jobs)}; ${line(kinds.batches)}`,
  );
  if (batches.length > 0) {
    const folds = batches.filter(({ check }) => check.detectors.foldCount === check.results && !check.detectors.sumOff).length;
    say(`    sink's fold count and sum right in ${folds} of ${batches.length}; intake (BullMQ) jobs: ${intake.batches.join(', ')}`);
    if (chaos.lossy) {
      const inLoss = chaos.smallBatches.filter((batch) => batch.inLoss).map((batch) => batch.id);
      const lostWhole = chaos.smallBatches.reduce((total, batch) => total + (batch.lostWhole ?? 0), 0);
      say(
        `    submitted while Redis was losing writes: ${inLoss.join(', ') || 'none'}; submitted again ${kinds.batches.resubmitted} time(s): ${kinds.batches.resubmitted - lostWhole} by submitAndWait (Redis lost the submission), ${lostWhole} after Redis lost a batch already done whole`,
      );
    }
  }
  const s = chaos.single;
  say(
    `  single jobs: ${number(s.calls)} add calls (${s.keyed.length} keys given twice, ${number(s.withPriority)} with a priority, ${number(s.delayed)} delayed), answered with ${number(single.ids)} ids in ${single.buckets.length} bucket(s): ${line(kinds.single)}`,
  );
  say(
    `    by id (getJob): ${number(single.done)} done with their own value, ${single.wrongOutcomes} with another, ${single.failedJobs} failed, ${single.notDone} not done; payloads recorded twice ${single.executedTwice}, never ${single.neverRan}; keys given twice: ${s.keyed.length - single.keyedTwoIds - single.keyedUnanswered - single.keyedLost} answered with one id, ${single.keyedRanAgain} second payload(s) ran`,
  );
  if (chaos.lossy) {
    say(
      `    single jobs lost with the writes Redis lost (not repaired, docs/durability.md): ${number(single.lostWithWrites)} of the ${number(single.risky)} answered while Redis was losing writes${single.keyedLost > 0 ? ` (${single.keyedLost} key(s) lost with them: their second call added a job of its own)` : ''}`,
    );
    for (const example of single.lostExamples.slice(0, 5)) say(`      single job ${example.i} (${example.id}): ${example.why}`);
  }
  if (json.pipelines) {
    say(`  per pipeline (${chaos.poolOrder.map((pool) => `pool ${pool}: ${chaos.poolKills[pool]} kill(s)`).join(', ')}):`);
    for (const [pipeline, p] of Object.entries(json.pipelines)) {
      say(
        `    ${pipeline}: ${p.batches} batch(es)${p.singleJobs > 0 ? ` + ${number(p.singleJobs)} single jobs` : ''}, jobs ${number(p.jobs)}; ${line(p)}; answers wrong ${p.wrongAnswers}; jobs recorded by a worker not serving ${pipeline} ${p.foreignJobs}; workers ${p.workers.join(', ')} (${p.workerKills} kill(s))`,
      );
      for (const example of verdict.perPipeline[pipeline].foreignExamples.slice(0, 5)) say(`      recorded by a worker not serving it: ${example}`);
    }
  }
  if (single.unknown.length > 0) say(`    batches in the ledger nobody submitted or was answered with: ${single.unknown.join(', ')}`);
  for (const example of single.examples) say(`    single job ${example.i} (${example.id}): ${example.problem}: ${JSON.stringify(example.report)}`);
  for (const text of problemLines('big batch', big)) say(text);
  for (const { batch, check } of batches) for (const text of problemLines(`batch ${batch.id}`, check)) say(text);
  for (const bucket of single.buckets) for (const text of problemLines(`bucket ${bucket.bucket}`, bucket.check)) say(text);
  say(
    `  redelivered ${number(chaos.redeliveredFromMetrics)} (every kind: the counter has no batch label): the sum of ${REDELIVERED} over ${chaos.redeliveredByVentilator.size} ventilator incarnation(s), each scraped every second, right before its SIGKILL and at the end` +
      ` (so increments in the last moments before a kill can be missing); the ventilators' 'requeueing jobs' log lines add up to ${number(chaos.redeliveredInLogs)}`,
  );
  const dropped = [big, ...batches.map((b) => b.check), ...single.buckets.map((b) => b.check)].reduce(
    (total, check) => total + (check.summary?.duplicates ?? 0),
    0,
  );
  say(
    `  sink's summaries: ${number(dropped)} late duplicates dropped over every batch and bucket; the big batch's ${big.summary ? `${big.summary.jobsPerSecond.toFixed(0)} jobs/s by its clock` : 'none'}`,
  );
  say(
    `  kills: ${Object.entries(chaos.kills)
      .map(([kind, count]) => `${kind} ${count}`)
      .join(', ')}`,
  );
  for (const fault of chaos.faultNotes) say(`    ${fault.kind} at ${(fault.at / 1000).toFixed(1)} s: ${fault.text}`);
  if (chaos.crashes.length > 0) {
    say(`  processes that died by themselves (not killed by the harness; restarted): ${chaos.crashes.length}`);
    for (const crash of chaos.crashes)
      say(
        `    ${crash.name} pid ${crash.pid} at ${(crash.at / 1000).toFixed(1)} s: code ${crash.code}, signal ${crash.signal}${crash.stderr ? `, stderr: ${crash.stderr}` : ''}`,
      );
  }
  const fmt = (value) => (value === null ? '-' : value.toFixed(1));
  say(
    `  seconds ${fmt(times.seconds)} (big batch submitted to everything done; the big batch alone ${fmt(times.batchSeconds)}); longest time without a job done ${fmt(chaos.longestStallMs / 1000)}`,
  );
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
    // The logs of an interrupted run are kept: an interrupt is often a run that hung.
    const logsDir = mkdtempSync(join(tmpdir(), 'jobpipe-chaos-logs-'));
    void within(15_000, 'cleanup', chaos.cleanup({ graceful: false }))
      .catch(() => chaos.killNow())
      .then(() => chaos.dumpLogs(logsDir, { interrupted: signal, kills: chaos.kills, crashes: chaos.crashes }))
      .then(() => say(`  process logs and timeline: ${logsDir}`))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  say(
    `jobpipe chaos: ${number(options.jobs)} jobs in the big batch, ${options.batches} smaller batches of up to ${number(options.batchJobs)}, ${number(options.singleJobs)} single jobs; ${options.workers} workers (concurrency ${options.concurrency}), seed ${options.seed}, a worker killed every ~${options.killEveryMs} ms; Redis faults: ${options.faults.join(', ')}`,
  );
  const failures = [];
  let times = { batchSeconds: null, seconds: null };
  let verdict;
  const intake = { big: 'unknown', batches: [] };
  try {
    await chaos.start();
    try {
      times = await chaos.runAll();
    } catch (error) {
      failures.push(error.message);
    }
    for (const error of chaos.chaosErrors) failures.push(`chaos step failed: ${error}`);
    if (!chaos.redis.running) await chaos.redis.startProcess(); // a restart that failed: try once more, to read the results
    verdict = await within(120_000, 'reading the results from Redis took over 120 s', chaos.verifyAll(failures));
    const wait = times.seconds === null ? 0 : 15_000;
    intake.big = await chaos.intakeState(chaos.batchId, wait);
    for (const { batch } of verdict.batches) intake.batches.push(await chaos.intakeState(batch.id, wait, batch.pipeline));
    if (intake.big !== 'completed') failures.push(`the big batch's intake (BullMQ) job is ${intake.big}, not completed`);
    intake.batches.forEach((state, k) => {
      if (state !== 'completed') failures.push(`the intake (BullMQ) job of batch ${verdict.batches[k].batch.id} is ${state}, not completed`);
    });
    await chaos.scrapeFinal();
  } catch (error) {
    failures.push(`harness error: ${error.stack ?? error.message}`);
  }

  for (const [kind, count] of Object.entries(chaos.kills))
    if (count < 1)
      failures.push(
        kind === 'snapshot' || kind === 'failover' ? `no ${kind} was done (the big batch ended first?)` : `no ${kind} was killed (the big batch ended first?)`,
      );

  // Each pipeline's own pool must have lost a worker (the one serving both is killed in its turn, not required).
  if (chaos.pools)
    for (const [pool, count] of Object.entries(chaos.poolKills))
      if (pool !== 'both' && count < 1) failures.push(`no worker of the ${pool} pool was killed (the big batch ended first?)`);

  const json = verdict && figures(chaos, verdict, times);
  if (verdict) printReport(chaos, verdict, json, times, intake, failures);
  else for (const failure of failures) say(`FAILED: ${failure}`);
  if (options.json && json) writeFileSync(options.json, `${JSON.stringify(json)}\n`);

  // A stall keeps the logs too, even when every check passed: it is worth a look.
  const keepLogs = failures.length > 0 || chaos.longestStallMs >= STALL_MS;
  const logsDir = options.logs ?? (keepLogs ? mkdtempSync(join(tmpdir(), 'jobpipe-chaos-logs-')) : undefined);
  if (logsDir) {
    let snapshots;
    if (failures.length > 0 && chaos.client) {
      // The batches and buckets with a problem (the big batch at least), a few of them.
      const suspects = verdict
        ? [
            [chaos.batchId, verdict.big],
            ...verdict.batches.map(({ batch, check }) => [batch.id, check]),
            ...verdict.single.buckets.map(({ bucket, check }) => [bucket, check]),
          ]
            .filter(([, check], k) => k === 0 || check.lost + check.duplicates + check.dead + check.unclaimed > 0 || check.status !== 'done')
            .map(([id]) => id)
            .slice(0, 6)
        : [chaos.batchId];
      snapshots = await within(5000, 'snapshot', Promise.all(suspects.map((id) => chaos.ledgerSnapshot(id)))).catch((error) => ({ error: error.message }));
    }
    await chaos.cleanup({ graceful: failures.length === 0 });
    await chaos.dumpLogs(logsDir, {
      options,
      failures,
      verdict,
      json,
      kills: chaos.kills,
      crashes: chaos.crashes,
      single: { ...chaos.single, ids: undefined },
      ledger: snapshots,
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
