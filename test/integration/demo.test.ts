/**
 * `jobpipe demo` end to end, as a user runs it: it verifies its answer, shows each worker's share,
 * and leaves no process behind (nor the redis-server it may have started for itself).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { redisServerAvailable } from '@jobpipe/launcher';
import { keysOf, startRedis, stopRedis } from './durable-helpers.js';
import { Cleanup, pidAlive, runCli, waitFor, within } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

/** Pids of live processes whose command line contains `text`. */
function processesMatching(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(text) && pidAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('demo', () => {
  it('counts the primes below 2,000,000, prints VERIFIED and per-worker lines, and stops every process it started', async () => {
    const demo = runCli(['demo', '--limit', '2000000', '--chunk', '50000'], {}, cleanup);
    const { code, signal, stdout, stderr } = await within('the demo', 60_000, demo.exited);
    const output = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    expect({ code, signal }, output).toEqual({ code: 0, signal: null });

    expect(stdout, output).toMatch(/answer: 148,933 primes below 2,000,000; a sieve in this process says 148,933 .*: VERIFIED/);
    expect(stdout, output).toMatch(/batch \S+ completed: 40 jobs \(0 failed\)/);
    // The demo runs every socket with CURVE, on keys made for the run.
    expect(stdout, output).toContain('sockets: CURVE (encrypted, workers admitted by key)');
    // "jobs per worker:" then one line per worker that did jobs: "  worker-2   17  ####".
    const lines = stdout.split('\n');
    const header = lines.indexOf('jobs per worker:');
    expect(header, output).toBeGreaterThan(0);
    const perWorker: Record<string, number> = {};
    for (const line of lines.slice(header + 1)) {
      const match = /^\s+(worker-\d+)\s+(\d+)\s+#*$/.exec(line);
      if (!match) break;
      perWorker[match[1]!] = Number(match[2]);
    }
    expect(Object.keys(perWorker).length, output).toBeGreaterThan(0);
    for (const worker of Object.keys(perWorker)) expect(['worker-1', 'worker-2', 'worker-3']).toContain(worker);
    expect(Object.values(perWorker).reduce((a, b) => a + b, 0)).toBe(40);
    expect(stdout, output).toMatch(/stopped all 5 processes \(exit codes: ventilator=0 worker-1=0 worker-2=0 worker-3=0 sink=0\)/);

    // The pids it printed: "processes: ventilator (pid 130), worker-1 (pid 123), ..., sink (pid 120)".
    const pids = [...stdout.matchAll(/\b(worker-\d+|sink|ventilator) \(pid (\d+)\)/g)].map((match) => ({ name: match[1]!, pid: Number(match[2]) }));
    expect(pids.map((p) => p.name).sort(), output).toEqual(['sink', 'ventilator', 'worker-1', 'worker-2', 'worker-3']);
    // They were stopped (and reaped) before the demo exited; allow a moment for the kernel anyway.
    await waitFor('every process the demo started to be gone', () => pids.every(({ pid }) => !pidAlive(pid)), 5000).catch(() => {});
    expect(pids.filter(({ pid }) => pidAlive(pid))).toEqual([]);

    // With redis-server installed (as .ci/run makes sure), the demo runs one of its own: it must
    // be gone too, with its directory.
    const redis = /a redis-server of the demo's own on port (\d+) \(AOF on, a random password, in (\S+)\)/.exec(stdout);
    expect(Boolean(redis), output).toBe(redisServerAvailable());
    if (redis) {
      expect(stdout).toContain("stopped the demo's redis-server and removed its directory");
      await waitFor(
        "the demo's redis-server to be gone",
        () => processesMatching(`:${redis[1]}`).filter((pid) => /redis/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))).length === 0,
        5000,
      );
      expect(existsSync(redis[2]!)).toBe(false);
    }
  });

  it("on the user's Redis (JOBPIPE_REDIS_URL): keys under a prefix of its own, all removed at the end", async () => {
    const server = await startRedis();
    cleanup.add('redis', () => stopRedis(server));
    const demo = runCli(['demo', '--limit', '1000000', '--chunk', '50000'], { JOBPIPE_REDIS_URL: server.url }, cleanup);
    const { code, stdout, stderr } = await within('the demo', 60_000, demo.exited);
    const output = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    expect(code, output).toBe(0);
    const prefix = /keys under (jobpipe-demo-[a-z0-9]+):/.exec(stdout)?.[1];
    expect(prefix, output).toBeDefined();
    const removed = new RegExp(`removed the demo's (\\d+) keys under ${prefix}: from that Redis`).exec(stdout);
    expect(Number(removed?.[1]), output).toBeGreaterThan(0);
    const redis = new Redis(server.url);
    cleanup.add('redis client', () => redis.quit());
    expect(await keysOf(redis, prefix!)).toEqual([]);
  });
});
