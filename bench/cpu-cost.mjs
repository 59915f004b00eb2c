#!/usr/bin/env node
// usage: node bench/cpu-cost.mjs [--systems jobpipe-durable,jobpipe-traced,jobpipe-memory,raw-zeromq,bullmq,rabbitmq]
//          [--jobs 200000] [--small 2000] [--threads] [--traced-share 0.01] [--json FILE]
// CPU time per job, by process role: what a run of each system costs the machine, apart from
// start-up. Each system runs twice, with --small and with --jobs jobs; the difference in CPU time
// divided by the difference in jobs is the marginal cost of a job. On a machine whose cores are
// all busy, jobs/s is bounded by cores / (CPU seconds per job), so this table says which process
// and how much stands between two systems' throughputs, whatever else the machine was doing.
// CPU time is read from /proc (utime + stime) of every process the run starts, sampled every
// 50 ms until it exits; RabbitMQ's server is not ours, so its beam.smp is read before and after.
// jobpipe-traced: durable with tracing on, 1% of jobs sampled (--traced-share), exported over
// OTLP/HTTP to a receiver in this process (not counted: a collector runs elsewhere), as
// bench/run.mjs's row.
// --threads splits each process into its main thread, the threads niced below it (a role's span
// export thread) and the rest (for Node: V8's garbage collection and compiler threads, libuv's
// pool, zeromq's I/O thread), from /proc/<pid>/task.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { otlpSink } from './otlp-sink.mjs';
import { readStat } from './process-cpu.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    systems: { type: 'string', default: 'jobpipe-durable,jobpipe-memory,raw-zeromq,bullmq,rabbitmq' },
    jobs: { type: 'string', default: '200000' },
    small: { type: 'string', default: '2000' },
    threads: { type: 'boolean', default: false },
    'traced-share': { type: 'string', default: '0.01' },
    json: { type: 'string' },
  },
});
const big = Number(args.jobs);
const small = Number(args.small);
if (!(Number.isInteger(big) && Number.isInteger(small) && big > small && small > 0)) {
  process.stderr.write('--jobs and --small must be integers with --jobs > --small > 0\n');
  process.exit(2);
}
// The share of jobs jobpipe-traced samples: 0.01 as bench/run.mjs's jobpipe-traced.
const tracedShare = Number(args['traced-share']);
if (!(tracedShare >= 0 && tracedShare <= 1)) {
  process.stderr.write('--traced-share must be a number from 0 to 1\n');
  process.exit(2);
}
const TICKS_PER_SECOND = 100; // Linux USER_HZ

const commands = {
  'jobpipe-durable': (jobs) => ['bench/throughput.mjs', '--durable', '--jobs', String(jobs)],
  // The durable run, with tracing's environment (see measure).
  'jobpipe-traced': (jobs) => commands['jobpipe-durable'](jobs),
  'jobpipe-memory': (jobs) => ['bench/throughput.mjs', '--jobs', String(jobs)],
  'raw-zeromq': (jobs) => ['bench/baselines/raw-zeromq/run.mjs', '--jobs', String(jobs)],
  bullmq: (jobs) => ['bench/baselines/bullmq/run.mjs', '--jobs', String(jobs)],
  rabbitmq: (jobs) => ['bench/baselines/rabbitmq/run.mjs', '--jobs', String(jobs)],
};

/** pid -> { ppid, ticks, comm } for every process, from /proc/<pid>/stat. */
function processTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      table.set(Number(name), readStat(`/proc/${name}/stat`));
    } catch {
      // gone between readdir and read
    }
  }
  return table;
}

/**
 * The CPU ticks of a process's threads other than its main one (whose id is the process's): those
 * at the main thread's nice value, and those niced below it (a role's span export thread).
 */
function otherThreadTicks(pid) {
  const ticks = { other: 0, niced: 0 };
  try {
    const mainNice = readStat(`/proc/${pid}/task/${pid}/stat`).nice;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (tid === String(pid)) continue;
      const thread = readStat(`/proc/${pid}/task/${tid}/stat`);
      ticks[thread.nice > mainNice ? 'niced' : 'other'] += thread.ticks;
    }
  } catch {
    // gone meanwhile: its last sample stands
  }
  return ticks;
}

/** A process's role, from its command line: jobpipe's subcommand, a baseline's script, or its name. */
function role(pid, comm) {
  let argv = [];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return comm;
  }
  const main = argv.findIndex((a) => a.endsWith('cli/dist/main.js'));
  if (main >= 0) return `jobpipe ${argv[main + 1]}`;
  const script = argv.find((a) => a.endsWith('.mjs'));
  if (script) return script.split('/').slice(-1)[0].replace('.mjs', '');
  return comm;
}

function beamTicks() {
  let ticks = 0;
  for (const p of processTable().values()) if (p.comm === 'beam.smp') ticks += p.ticks;
  return ticks;
}

/** Runs one system with `jobs` jobs; CPU seconds by role, and the system's own output. */
async function measure(system, jobs) {
  const beamBefore = system === 'rabbitmq' ? beamTicks() : 0;
  const otlp = system === 'jobpipe-traced' ? await otlpSink() : undefined;
  const env = otlp
    ? {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: String(tracedShare),
      }
    : process.env;
  const child = spawn(process.execPath, commands[system](jobs), { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const seen = new Map(); // pid -> { role, comm, ticks, otherTicks }
  const sample = () => {
    const table = processTable();
    const ours = new Set([child.pid]);
    // Descendants: repeat until no new pid joins (children may be listed before their parent).
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, p] of table) if (!ours.has(pid) && ours.has(p.ppid)) ours.add(pid), (grew = true);
    }
    for (const pid of ours) {
      const p = table.get(pid);
      if (!p) continue;
      const known = seen.get(pid);
      // The role is read again each time: a child names itself only once it has exec'd, and a
      // zombie's command line is empty.
      const named = role(pid, p.comm);
      const { other: otherTicks, niced: nicedTicks } = args.threads ? otherThreadTicks(pid) : { other: 0, niced: 0 };
      if (!known) seen.set(pid, { role: named, comm: p.comm, ticks: p.ticks, otherTicks, nicedTicks });
      else {
        known.ticks = Math.max(known.ticks, p.ticks);
        known.otherTicks = Math.max(known.otherTicks, otherTicks);
        known.nicedTicks = Math.max(known.nicedTicks, nicedTicks);
        // A new comm means an exec (a Redis first seen as the node that spawned it); a name from
        // the command line is better than the comm, unless the process is a zombie by now.
        if (p.comm !== known.comm || named !== p.comm) known.role = named;
        known.comm = p.comm;
      }
    }
  };
  const timer = setInterval(sample, 50);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  await otlp?.close();
  if (code !== 0) throw new Error(`${system} with ${jobs} jobs exited with ${code}`);
  const byRole = {};
  for (const { role: name, ticks, otherTicks, nicedTicks } of seen.values()) {
    // Split even when a process has no other thread busy yet, so the small and the large run name the same parts.
    if (args.threads) {
      byRole[`${name} main`] = (byRole[`${name} main`] ?? 0) + (ticks - otherTicks - nicedTicks) / TICKS_PER_SECOND;
      byRole[`${name} other threads`] = (byRole[`${name} other threads`] ?? 0) + otherTicks / TICKS_PER_SECOND;
      byRole[`${name} niced threads`] = (byRole[`${name} niced threads`] ?? 0) + nicedTicks / TICKS_PER_SECOND;
    } else byRole[name] = (byRole[name] ?? 0) + ticks / TICKS_PER_SECOND;
  }
  if (system === 'rabbitmq') byRole['rabbitmq-server'] = (beamTicks() - beamBefore) / TICKS_PER_SECOND;
  return { byRole, output: output.trim() };
}

const rows = [];
for (const system of args.systems.split(',')) {
  if (!commands[system]) {
    process.stderr.write(`unknown system ${system}; known: ${Object.keys(commands).join(', ')}\n`);
    process.exit(2);
  }
  const low = await measure(system, small);
  const high = await measure(system, big);
  if (/"skipped":true/.test(high.output)) {
    rows.push({ system, skipped: high.output });
    continue;
  }
  const roles = [...new Set([...Object.keys(low.byRole), ...Object.keys(high.byRole)])];
  const perJobUs = {};
  for (const r of roles) perJobUs[r] = Math.round((((high.byRole[r] ?? 0) - (low.byRole[r] ?? 0)) / (big - small)) * 1e7) / 10;
  const total = Math.round(Object.values(perJobUs).reduce((a, b) => a + b, 0) * 10) / 10;
  rows.push({ system, cpuUsPerJob: total, byRole: perJobUs, ceilingJobsPerSecondOn2Cores: Math.round(2e6 / total) });
  process.stderr.write(`${system}: ${total} µs of CPU per job ${JSON.stringify(perJobUs)}\n`);
}

console.log('| system | CPU µs per job | by process | 2 cores / cost |');
console.log('|---|---|---|---|');
for (const r of rows) {
  if (r.skipped) console.log(`| ${r.system} | skipped | | |`);
  else
    console.log(
      `| ${r.system} | ${r.cpuUsPerJob} | ${Object.entries(r.byRole)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} | ${r.ceilingJobsPerSecondOn2Cores.toLocaleString('en-US')} jobs/s |`,
    );
}
if (args.json) writeFileSync(args.json, JSON.stringify({ jobs: big, small, rows }, null, 2));
