/**
 * A tiny run of the benchmark harness, so it does not rot. Its figures are not checked:
 * benchmarks measure, tests do not time. What is checked is that every latency comes from one
 * clock: none is negative, and a run whose stamps disagree (JOBPIPE_BENCH_SKEW_MS shifts the
 * creation stamps) fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'jobpipe-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** bench/run.mjs with these arguments (and env), as `npm run bench --` runs it. */
const bench = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [resolve(repoRoot, 'bench/run.mjs'), ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });

describe('npm run bench -- --smoke', () => {
  it('runs jobpipe durable and in memory and raw-zeromq-packed, with warm-ups before the throughput and latency runs, and writes the report', () => {
    const json = join(dir, 'bench.json');
    const run = bench(['--smoke', '--warmup-jobs', '200', '--warmup-seconds', '0.02', '--json', json]);
    expect(run.status, run.stderr).toBe(0);
    type Spread = { p50: number; p99: number; min: number; max: number };
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      rows: {
        system: string;
        jobs_per_s: { median: number; min: number; max: number };
        cold_jobs_per_s: { median: number };
        p50_ms: number;
        p99_ms: number;
        latency_stages_ms?: { toWorker: Spread; toRecorded: Spread };
        p50_by_tenth_ms?: number[];
      }[];
      ratios: Record<string, number>;
      memoryRatios: Record<string, number>;
      warmupSeconds: number;
      warmupJobs: number;
      latencyClock: string;
    };
    expect(report.latencyClock).toMatch(/CLOCK_MONOTONIC/);
    // 200 jobs of warm-up at 10,000 jobs/s, then the smoke run's 300 measured.
    expect(report.warmupSeconds).toBe(0.02);
    // Throughput: 200 jobs of warm-up (the cold figure), then the 300 timed.
    expect(report.warmupJobs).toBe(200);
    expect(report.rows.map((row) => row.system)).toEqual(['jobpipe-durable', 'jobpipe-memory', 'raw-zeromq-packed']);
    for (const row of report.rows) {
      expect(row.jobs_per_s.median).toBeGreaterThan(0);
      expect(row.jobs_per_s.min).toBeLessThanOrEqual(row.jobs_per_s.max);
      expect(row.cold_jobs_per_s.median).toBeGreaterThan(0);
      expect(row.p50_ms).toBeGreaterThan(0);
      expect(row.p99_ms).toBeGreaterThanOrEqual(row.p50_ms);
      if (!row.system.startsWith('jobpipe-')) continue;
      // Each half of a job's way is a part of the whole, and none is negative: one clock.
      for (const stage of [row.latency_stages_ms!.toWorker, row.latency_stages_ms!.toRecorded]) {
        expect(stage.min).toBeGreaterThanOrEqual(0);
        expect(stage.p50).toBeGreaterThan(0);
        expect(stage.p50).toBeLessThanOrEqual(row.p99_ms);
      }
      expect(row.p50_by_tenth_ms).toHaveLength(10);
    }
    expect(report.ratios['jobpipe-memory']).toBeGreaterThan(0);
    expect(report.ratios['raw-zeromq-packed']).toBeGreaterThan(0);
    // jobpipe in memory against the limit of ZeroMQ here: a column of the table and a line of its own.
    expect(report.memoryRatios['raw-zeromq-packed']).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/jobpipe-durable\s+[\d,]+/);
    expect(run.stdout).toMatch(/raw-zeromq-packed\s+[\d,]+/);
    expect(run.stdout).toMatch(/jobpipe-memory \/ raw-zeromq-packed \(50 jobs a message, no persistence\): [\d.]+x \(target >= 0\.7x\)/);
  }, 150_000);

  it('fails a jobpipe run whose latencies are negative', () => {
    // Creation stamped a minute late. No warm-up for the throughput, so the latency run is what fails.
    const run = bench(['--smoke', '--systems', 'jobpipe-memory', '--warmup-jobs', '0', '--warmup-seconds', '0'], { JOBPIPE_BENCH_SKEW_MS: '60000' });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/bench: FAILED: jobpipe-memory, creation to recorded: impossible latency: min -\d+/);
  }, 150_000);

  it('fails a baseline run whose latencies are longer than the run', () => {
    // Creation stamped ten minutes early: every job would have taken longer than the whole run.
    const run = bench(['--smoke', '--systems', 'raw-zeromq-packed', '--warmup-jobs', '0'], { JOBPIPE_BENCH_SKEW_MS: '-600000' });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/raw-zeromq-packed: FAILED: impossible latency: min 6\d{5}\.\d+ ms, max \d+\.\d+ ms in a run of/);
    expect(run.stderr).toMatch(/bench: FAILED: raw-zeromq-packed exited 1/);
  }, 150_000);
});
