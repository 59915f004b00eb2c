#!/usr/bin/env node
// usage: node bench/round-trip-cost.mjs [--calls 2000] [--gap-ms 1]
// What one round trip to Redis costs when both ends sleep between calls, as at a light load: this
// process PINGs a redis-server of its own once per --gap-ms, and reports the round trip's p50 and
// p90 and the CPU time of each side per call (from /proc). It runs four ways: back to back (no
// sleep), as the scheduler places the two processes, and pinned with `taskset` to one vCPU and to
// two. On a VM, waking a thread on an idle vCPU is the costly part; these figures say how costly.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { RedisServer } from '@jobpipe/launcher';
import { cpuMicros } from './process-cpu.mjs';

let args;
try {
  ({ values: args } = parseArgs({ options: { calls: { type: 'string', default: '2000' }, 'gap-ms': { type: 'string', default: '1' } } }));
} catch (error) {
  fail(error.message);
}
const calls = Number(args.calls);
const gapMs = Number(args['gap-ms']);
if (!(Number.isInteger(calls) && calls >= 10) || !(gapMs >= 1)) fail('--calls takes an integer >= 10, --gap-ms a number >= 1');
if (spawnSync('taskset', ['-V']).status !== 0) fail('needs taskset (Debian package util-linux)');
if (availableParallelism() < 2) fail('needs at least 2 CPUs');

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** Pins every thread of a process to these CPUs. */
function pin(pid, cpus) {
  const run = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
  if (run.status !== 0) throw new Error(`taskset failed: ${run.stderr}`);
}

const server = await RedisServer.start({ appendOnly: false });
const client = new Redis(server.url);
const all = `0-${availableParallelism() - 1}`;
const ways = [
  { way: 'back to back', client: all, redis: all, gap: false },
  { way: 'where the scheduler puts them', client: all, redis: all, gap: true },
  { way: 'pinned to one vCPU', client: '0', redis: '0', gap: true },
  { way: 'pinned to two vCPUs', client: '0', redis: '1', gap: true },
];
const rows = [];
try {
  // Warmed up first: the first calls of a fresh process run unoptimised code.
  for (let i = 0; i < 1000; i++) await client.ping();
  for (const { way, gap, ...cpus } of ways) {
    pin(process.pid, cpus.client);
    pin(server.pid, cpus.redis);
    const times = [];
    const [client0, redis0] = [cpuMicros(process.pid), cpuMicros(server.pid)];
    for (let i = 0; i < calls; i++) {
      if (gap) await new Promise((resolve) => setTimeout(resolve, gapMs));
      const started = performance.now();
      await client.ping();
      times.push((performance.now() - started) * 1000);
    }
    times.sort((a, b) => a - b);
    const perCall = (us) => Math.round(us / calls);
    rows.push({
      way,
      p50: Math.round(times[calls >> 1]),
      p90: Math.round(times[Math.floor(calls * 0.9)]),
      clientCpu: perCall(cpuMicros(process.pid) - client0),
      redisCpu: perCall(cpuMicros(server.pid) - redis0),
    });
  }
} finally {
  client.disconnect();
  await server.stop();
}
console.log(
  `| ${calls} PINGs, ${gapMs} ms apart | round trip p50 µs | p90 µs | client CPU µs per call | redis-server CPU µs per call |\n|---|---|---|---|---|`,
);
for (const row of rows) console.log(`| ${row.way} | ${row.p50} | ${row.p90} | ${row.clientCpu} | ${row.redisCpu} |`);
