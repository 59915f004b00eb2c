// Shared by the baseline systems (raw-zeromq, bullmq, rabbitmq): command line, payloads, pacing,
// result checking and percentiles, and the coordinator that runs each role as its own OS process.
//
// Every system's run.mjs is a coordinator: it spawns a producer, W workers and a sink/collector
// (`node <role>.mjs '<json config>'`, with an IPC channel), tells the producer to go, waits for the
// sink's summary, stops everything and prints one JSON line. Children exit when the coordinator
// goes away (IPC disconnect), so none is left behind even if the coordinator is SIGKILLed.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Milliseconds on CLOCK_MONOTONIC (sub-ms): the one clock every process of a Linux host shares,
 * so a stamp taken in the producer compares with one taken in the sink. Not
 * `performance.timeOrigin + performance.now()`: that is each process's own reading of the wall
 * clock at its start, and processes started at different moments disagreed by milliseconds.
 */
export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Shifts the producer's creation stamps by this much (tests of the clock check only). */
const skewMs = Number(process.env.JOBPIPE_BENCH_SKEW_MS ?? 0) || 0;

/**
 * The command line every baseline shares. Invalid values: one line on stderr, exit 2. `--packed N`
 * (jobs per message) only where the caller says it `packs` (raw-zeromq).
 */
export function options(argv = process.argv.slice(2), { packs = false } = {}) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        jobs: { type: 'string', default: '100000' },
        workers: { type: 'string', default: '2' },
        'payload-bytes': { type: 'string', default: '100' },
        rate: { type: 'string' },
        'warmup-jobs': { type: 'string', default: '0' },
        'work-ms': { type: 'string', default: '0' },
        balance: { type: 'boolean', default: false },
        'slow-workers': { type: 'string', default: '0' },
        'slow-factor': { type: 'string', default: '1' },
        packed: { type: 'string' },
      },
    }));
  } catch (err) {
    usage(err.message);
  }
  const num = (name, min) => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) usage(`--${name} must be a number >= ${min}, got "${raw}"`);
    return n;
  };
  const o = {
    jobs: Math.floor(num('jobs', 1)),
    workers: Math.floor(num('workers', 1)),
    payloadBytes: Math.floor(num('payload-bytes', 0)),
    rate: num('rate', 1),
    warmupJobs: Math.floor(num('warmup-jobs', 0)),
    workMs: num('work-ms', 0),
    balance: values.balance,
    slowWorkers: Math.floor(num('slow-workers', 0)),
    slowFactor: num('slow-factor', 1),
    packed: values.packed === undefined ? undefined : Math.floor(num('packed', 1)),
  };
  if (o.packed !== undefined && !packs) usage('--packed is for raw-zeromq only');
  if (o.packed !== undefined && o.balance) usage('--packed does not go with --balance');
  if (o.slowWorkers > o.workers) usage('--slow-workers must not exceed --workers');
  if (o.warmupJobs >= o.jobs) usage('--warmup-jobs must be less than --jobs');
  return o;
}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node run.mjs --jobs N --workers W --payload-bytes B [--rate R] [--warmup-jobs K] [--work-ms M] [--packed N (raw-zeromq)]\n`,
  );
  process.exit(2);
}

/** Job payloads of about `bytes` bytes of JSON: {"i":n,"t":createdAtMs,"pad":"xxx..."}. */
export function payloads(jobs, bytes) {
  const pad = 'x'.repeat(Math.max(0, bytes - JSON.stringify({ i: jobs - 1, t: now(), pad: '' }).length));
  return {
    object: (i) => ({ i, t: now() + skewMs, pad }),
    string: (i) => `{"i":${i},"t":${now() + skewMs},"pad":"${pad}"}`,
  };
}

/** The handler's simulated work: busy-wait `ms` milliseconds (nothing for 0). */
export function spin(ms) {
  if (!(ms > 0)) return;
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/**
 * Produces jobs 0..jobs-1 by calling `await sendRange(from, to)`, at most `maxBatch` jobs a call.
 * Without a rate, as fast as the sends allow; with `rate` jobs/s, every millisecond it sends the
 * jobs that are due by then (catching up in one burst if it fell behind). Returns the time the
 * first job was produced.
 */
export async function produce(jobs, rate, maxBatch, sendRange) {
  const start = performance.now();
  const firstAt = now();
  for (let i = 0; i < jobs; ) {
    let due = jobs;
    if (rate) {
      due = Math.min(jobs, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      if (due <= i) {
        await sleep(1);
        continue;
      }
    }
    const end = Math.min(due, i + maxBatch);
    await sendRange(i, end);
    i = end;
  }
  return firstAt;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/**
 * The sink's ledger: distinct job indexes, duplicates, and each job's latency (creation -> here).
 * Jobs 0..warmupJobs-1 count as results but not in the percentiles. The throughput is taken from
 * the result of job number warmupJobs on (`markedAt`; `beforeMark` results came before it), as
 * jobpipe's echo pipeline does.
 */
export class Results {
  constructor(jobs, warmupJobs = 0) {
    this.jobs = jobs;
    this.warmupJobs = warmupJobs;
    this.seen = new Uint8Array(jobs);
    this.latency = new Float64Array(jobs);
    this.count = 0;
    this.duplicates = 0;
    this.invalid = 0;
    this.lastAt = 0;
    this.markedAt = undefined;
    this.beforeMark = undefined;
    // Over every job, the warm-up's too: the coordinator refuses latencies no clock could give.
    this.minMs = Infinity;
    this.maxMs = -Infinity;
  }

  /** Records result `i` of a job created at `t`; true once every job has a result. */
  add(i, t, at = now()) {
    if (!Number.isInteger(i) || i < 0 || i >= this.jobs || typeof t !== 'number') this.invalid++;
    else if (this.seen[i]) this.duplicates++;
    else {
      if (i === this.warmupJobs && this.warmupJobs > 0) [this.markedAt, this.beforeMark] = [at, this.count];
      this.seen[i] = 1;
      const ms = at - t;
      this.latency[i] = ms;
      if (ms < this.minMs) this.minMs = ms;
      if (ms > this.maxMs) this.maxMs = ms;
      this.count++;
      this.lastAt = at;
    }
    return this.count === this.jobs;
  }

  /** p50/p99 over the jobs after the warm-up. */
  summary() {
    const sorted = this.latency.slice(this.warmupJobs).sort();
    const round = (x) => Math.round(x * 1000) / 1000;
    return {
      results: this.count,
      duplicates: this.duplicates,
      invalid: this.invalid,
      lastAt: this.lastAt,
      markedAt: this.markedAt,
      beforeMark: this.beforeMark,
      p50Ms: round(percentile(sorted, 0.5)),
      p99Ms: round(percentile(sorted, 0.99)),
      minMs: this.minMs,
      maxMs: this.maxMs,
    };
  }

  /** Sends {type:'progress'} to the coordinator every second (its stall watchdog reads it). */
  reportProgress(send) {
    return setInterval(() => send({ type: 'progress', results: this.count }), 1000);
  }
}

// ---------------------------------------------------------------------------------------------
// Child side.

/** In a child role: its config (argv[2]), `send` to the coordinator, and `message(type)` from it. */
export function childRole() {
  process.on('disconnect', () => process.exit(0)); // the coordinator is gone: so are we
  const inbox = new Inbox();
  process.on('message', (m) => inbox.put(m));
  return {
    config: JSON.parse(process.argv[2]),
    send: (m) => process.send(m),
    message: (type) => inbox.take(type),
  };
}

/**
 * Binds `socket` on an ephemeral loopback port, tells the coordinator where ('bound'), and
 * resolves once `peers` connections have completed their ZMTP handshake.
 */
export async function bindAndAwaitPeers(socket, peers, send) {
  let connected = 0;
  const allConnected = new Promise((resolve) => socket.events.on('handshake', () => ++connected === peers && resolve()));
  await socket.bind('tcp://127.0.0.1:*');
  send({ type: 'bound', endpoint: socket.lastEndpoint });
  await allConnected;
}

class Inbox {
  #messages = [];
  #waiters = [];
  put(m) {
    const w = this.#waiters.findIndex((w) => w.type === m.type);
    if (w >= 0) this.#waiters.splice(w, 1)[0].resolve(m);
    else this.#messages.push(m);
  }
  take(type) {
    const m = this.#messages.findIndex((m) => m.type === type);
    if (m >= 0) return Promise.resolve(this.#messages.splice(m, 1)[0]);
    return new Promise((resolve) => this.#waiters.push({ type, resolve }));
  }
}

// ---------------------------------------------------------------------------------------------
// Coordinator side.

/**
 * The coordinator of one run. `spawn` starts a role, `message` awaits one of its messages (with a
 * timeout), `results` awaits the sink's summary with a stall watchdog, `finish` stops everything
 * and prints the JSON line, `fail` stops everything and exits 1. SIGINT/SIGTERM clean up too.
 */
export function coordinator(system) {
  // The run's own wall time, on the clock of the stamps: no job can take longer than the run.
  const startedAt = now();
  const kids = [];
  const cleanups = [];
  let exiting = false;

  const stopKids = async () => {
    const alive = kids.filter((k) => k.proc.exitCode === null && k.proc.signalCode === null);
    await Promise.all(
      alive.map(async (k) => {
        const exited = new Promise((resolve) => k.proc.once('exit', resolve));
        k.proc.kill('SIGTERM');
        if ((await Promise.race([exited, sleep(3000, 'timeout')])) === 'timeout') {
          k.proc.kill('SIGKILL');
          await exited;
        }
      }),
    );
  };

  const exit = async (code, line) => {
    if (exiting) return new Promise(() => {});
    exiting = true;
    for (const fn of [stopKids, ...cleanups.reverse()]) {
      try {
        await Promise.race([
          fn(code),
          sleep(10_000).then(() => {
            throw new Error('cleanup timed out');
          }),
        ]);
      } catch (err) {
        process.stderr.write(`${system}: cleanup: ${err.message}\n`);
      }
    }
    if (line) process.stdout.write(`${line}\n`);
    process.exit(code);
  };

  const fail = (message) => {
    if (!exiting) process.stderr.write(`${system}: FAILED: ${message}\n`);
    return exit(1);
  };

  process.on('SIGINT', () => {
    process.stderr.write(`${system}: interrupted\n`);
    exit(130);
  });
  process.on('SIGTERM', () => exit(143));
  process.on('uncaughtException', (err) => fail(err.stack ?? String(err)));
  process.on('unhandledRejection', (err) => fail(err?.stack ?? String(err)));
  // Last resort (e.g. process.exit from elsewhere): no child outlives us.
  process.on('exit', () => {
    for (const k of kids) if (k.proc.exitCode === null && k.proc.signalCode === null) k.proc.kill('SIGKILL');
  });

  return {
    fail,
    /** Registers an async cleanup `(exitCode) => ...`, run (in reverse order) after the children are stopped. */
    onCleanup: (fn) => cleanups.push(fn),

    spawn(name, file, config) {
      // The child's stdout goes to our stderr: our stdout carries only the JSON line.
      const proc = spawn(process.execPath, [file, JSON.stringify(config)], { stdio: ['ignore', 2, 2, 'ipc'] });
      const kid = { name, proc, inbox: new Inbox(), progress: 0 };
      proc.on('message', (m) => (m.type === 'progress' ? (kid.progress = m.results) : kid.inbox.put(m)));
      proc.on('exit', (code, signal) => {
        if (!exiting) fail(`${name} exited unexpectedly (code ${code}, signal ${signal})`);
      });
      kids.push(kid);
      return kid;
    },

    /** The next message of `type` from `kid`; the run fails after `timeoutMs`. */
    async message(kid, type, timeoutMs = 60_000) {
      const timer = setTimeout(() => fail(`no "${type}" from ${kid.name} within ${timeoutMs / 1000} s`), timeoutMs);
      try {
        return await kid.inbox.take(type);
      } finally {
        clearTimeout(timer);
      }
    },

    /** The sink's {type:'done'} summary; fails when no new result arrived for `stallMs`. */
    async results(sink, jobs, stallMs = 30_000) {
      let last = -1;
      let since = Date.now();
      const timer = setInterval(() => {
        if (sink.progress !== last) [last, since] = [sink.progress, Date.now()];
        else if (Date.now() - since > stallMs) {
          fail(`results ${sink.progress} != jobs ${jobs}: no new result for ${stallMs / 1000} s`);
        }
      }, 500);
      try {
        return await sink.inbox.take('done');
      } finally {
        clearInterval(timer);
      }
    },

    /**
     * The broker baselines' run: a collector, the workers and a producer from the files beside
     * `runUrl`, each told `shared`; the producer starts once all are ready; then finish().
     */
    async runThroughBroker(runUrl, o, shared) {
      const file = (name) => beside(runUrl, name);
      const collector = this.spawn('collector', file('collector.mjs'), shared);
      const workers = Array.from({ length: o.workers }, (_, k) => this.spawn(`w${k + 1}`, file('worker.mjs'), { ...shared, workMs: o.workMs }));
      const producer = this.spawn('producer', file('producer.mjs'), { ...shared, payloadBytes: o.payloadBytes, rate: o.rate });
      await Promise.all([collector, producer, ...workers].map((kid) => this.message(kid, 'ready')));
      producer.proc.send({ type: 'go' });
      const [{ firstAt }, summary] = await Promise.all([this.message(producer, 'produced', 3_600_000), this.results(collector, o.jobs)]);
      this.finish({ jobs: o.jobs, firstAt, summary });
    },

    /** Checks the sink's summary, builds the standard JSON line, cleans up and exits 0. */
    finish({ jobs, firstAt, summary, extra }) {
      if (summary.results !== jobs) return fail(`results ${summary.results} != jobs ${jobs}`);
      const runMs = now() - startedAt;
      const impossible = impossibleLatency(summary, runMs);
      if (impossible) return fail(impossible);
      if (summary.duplicates || summary.invalid) {
        process.stderr.write(`${system}: note: ${summary.duplicates} duplicate and ${summary.invalid} invalid results ignored\n`);
      }
      const seconds = (summary.lastAt - firstAt) / 1000;
      // With a warm-up, jobs/s counts the results after job number warmupJobs's, over the time
      // since it came; coldJobsPerSecond, those before it, from the first job produced.
      const warm =
        summary.markedAt === undefined ? undefined : { jobs: summary.results - summary.beforeMark - 1, seconds: (summary.lastAt - summary.markedAt) / 1000 };
      if (warm && !(warm.seconds > 0))
        return fail(
          `the ${warm.jobs} results after the warm-up arrived with the first one after it: nothing to time them by (give more --jobs, or smaller packs)`,
        );
      const line = extra ?? {
        system,
        jobs,
        results: summary.results,
        seconds: Math.round(seconds * 1000) / 1000,
        jobsPerSecond: Math.round(warm ? warm.jobs / warm.seconds : jobs / seconds),
        ...(warm ? { coldJobsPerSecond: Math.round(summary.beforeMark / ((summary.markedAt - firstAt) / 1000)) } : {}),
        p50Ms: summary.p50Ms,
        p99Ms: summary.p99Ms,
        skipped: false,
      };
      return exit(0, JSON.stringify(line));
    },

    /** Prints a line as is (e.g. skipped) and exits 0 after cleaning up. */
    print: (line) => exit(0, JSON.stringify(line)),
  };
}

/**
 * Why the latencies `{minMs, maxMs}` cannot be true in a run of `runMs` (negative, or longer than
 * the run itself), or undefined. Either means the stamps compared were not of one clock.
 */
export function impossibleLatency({ minMs, maxMs }, runMs) {
  if (minMs >= 0 && maxMs <= runMs) return undefined;
  const ms = (x) => (Number.isFinite(x) ? x.toFixed(3) : String(x));
  return `impossible latency: min ${ms(minMs)} ms, max ${ms(maxMs)} ms in a run of ${ms(runMs)} ms (negative or longer than the run: the creation and arrival stamps are not of one clock)`;
}

/** Path of a file next to the calling module. */
export const beside = (metaUrl, file) => fileURLToPath(new URL(file, metaUrl));

/**
 * Runs `stop` (stopping the roles and redis-server a benchmark started, which would outlive it
 * otherwise) on SIGINT or SIGTERM, then exits 130 or 143. Returns the run's own way to stop: it
 * stops listening and runs `stop`, or awaits the one a signal began (`stop` runs once), so the
 * run's failure, which the signal causes, cannot end the process half-way through it.
 */
export function stopOnSignals(stop) {
  let stopping;
  const once = () => {
    stopping ??= stop();
    return stopping;
  };
  const onSignal = async (signal) => {
    try {
      await once();
    } finally {
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return once();
  };
}
