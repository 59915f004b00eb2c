/**
 * A tiny run of the benchmark harness (jobpipe rows only), so it does not rot. Its figures are
 * not checked: benchmarks measure, tests do not time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'jobpipe-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run bench -- --smoke', () => {
  it('runs jobpipe durable and in memory, with warm-ups before the throughput and latency runs, and writes the report', () => {
    const json = join(dir, 'bench.json');
    const run = spawnSync(
      process.execPath,
      [resolve(repoRoot, 'bench/run.mjs'), '--smoke', '--warmup-jobs', '200', '--warmup-seconds', '0.02', '--json', json],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    type Spread = { p50: number; p99: number };
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      rows: {
        system: string;
        jobs_per_s: { median: number; min: number; max: number };
        cold_jobs_per_s: { median: number };
        p50_ms: number;
        p99_ms: number;
        latency_stages_ms: { toWorker: Spread; toRecorded: Spread };
        p50_by_tenth_ms: number[];
      }[];
      ratios: Record<string, number>;
      warmupSeconds: number;
      warmupJobs: number;
    };
    // 200 jobs of warm-up at 10,000 jobs/s, then the smoke run's 300 measured.
    expect(report.warmupSeconds).toBe(0.02);
    // Throughput: 200 jobs of warm-up (the cold figure), then the 300 timed.
    expect(report.warmupJobs).toBe(200);
    expect(report.rows.map((row) => row.system)).toEqual(['jobpipe-durable', 'jobpipe-memory']);
    for (const row of report.rows) {
      expect(row.jobs_per_s.median).toBeGreaterThan(0);
      expect(row.jobs_per_s.min).toBeLessThanOrEqual(row.jobs_per_s.max);
      expect(row.cold_jobs_per_s.median).toBeGreaterThan(0);
      expect(row.p50_ms).toBeGreaterThan(0);
      expect(row.p99_ms).toBeGreaterThanOrEqual(row.p50_ms);
      // Each half of a job's way is a part of the whole.
      for (const stage of [row.latency_stages_ms.toWorker, row.latency_stages_ms.toRecorded]) {
        expect(stage.p50).toBeGreaterThan(0);
        expect(stage.p50).toBeLessThanOrEqual(row.p99_ms);
      }
      expect(row.p50_by_tenth_ms).toHaveLength(10);
    }
    expect(report.ratios['jobpipe-memory']).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/jobpipe-durable\s+[\d,]+/);
  }, 150_000);
});
