/**
 * `jobpipe demo` end to end, as a user runs it: it verifies its answer, shows each worker's share,
 * and leaves no process behind.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cleanup, pidAlive, runCli, waitFor, within } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

describe('demo', () => {
  it('counts the primes below 2,000,000, prints VERIFIED and per-worker lines, and stops every process it started', async () => {
    const demo = runCli(['demo', '--limit', '2000000', '--chunk', '50000'], {}, cleanup);
    const { code, signal, stdout, stderr } = await within('the demo', 60_000, demo.exited);
    expect({ code, signal }, `stdout:\n${stdout}\nstderr:\n${stderr}`).toEqual({ code: 0, signal: null });

    expect(stdout).toMatch(/answer: 148,933 primes below 2,000,000; a sieve in this process says 148,933 .*: VERIFIED/);
    expect(stdout).toMatch(/batch \S+ completed: 40 jobs \(0 failed\)/);
    // "jobs per worker:" then one line per worker that did jobs: "  worker-2   17  ####".
    const lines = stdout.split('\n');
    const header = lines.indexOf('jobs per worker:');
    expect(header).toBeGreaterThan(0);
    const perWorker: Record<string, number> = {};
    for (const line of lines.slice(header + 1)) {
      const match = /^\s+(worker-\d+)\s+(\d+)\s+#*$/.exec(line);
      if (!match) break;
      perWorker[match[1]!] = Number(match[2]);
    }
    expect(Object.keys(perWorker).length).toBeGreaterThan(0);
    for (const worker of Object.keys(perWorker)) expect(['worker-1', 'worker-2', 'worker-3']).toContain(worker);
    expect(Object.values(perWorker).reduce((a, b) => a + b, 0)).toBe(40);
    expect(stdout).toMatch(/stopped all 5 processes \(exit codes: ventilator=0 worker-1=0 worker-2=0 worker-3=0 sink=0\)/);

    // "started: worker-1 123, worker-2 124, worker-3 125, sink 120" and "started: ventilator 130; ...".
    const pids = lines
      .filter((line) => line.startsWith('started: '))
      .flatMap((line) => [...line.matchAll(/\b(worker-\d+|sink|ventilator) (\d+)\b/g)])
      .map((match) => ({ name: match[1]!, pid: Number(match[2]) }));
    expect(pids.map((p) => p.name).sort()).toEqual(['sink', 'ventilator', 'worker-1', 'worker-2', 'worker-3']);
    // They were stopped (and reaped) before the demo exited; allow a moment for the kernel anyway.
    await waitFor('every process the demo started to be gone', () => pids.every(({ pid }) => !pidAlive(pid)), 5000).catch(() => {});
    expect(pids.filter(({ pid }) => pidAlive(pid))).toEqual([]);
  });
});
