/**
 * A tiny run of the benchmark harness, so it does not rot. Its figures are not checked against
 * targets: benchmarks measure, tests do not time. What is checked is that every figure is real
 * (present and positive), that every latency comes from one clock: none is negative, and a run
 * whose stamps disagree (JOBPIPE_BENCH_SKEW_MS shifts the creation stamps) fails.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'jobpipe-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Target = { what: string; value: number; op: '>=' | '<='; bound: number; met: boolean };
type Stats = { median: number; min: number; max: number };

/** MB/s of a row as bench/run.mjs states it: its jobs/s times the payload bytes, to the hundredth. */
function expectBandwidth(row: { jobs_per_s: Stats; mb_per_s?: Stats }, payloadBytes: number) {
  for (const key of ['median', 'min', 'max'] as const)
    expect(Math.abs(row.mb_per_s![key] - (row.jobs_per_s[key] * payloadBytes) / 1e6)).toBeLessThanOrEqual(0.005);
}

/** bench/run.mjs with these arguments (and env), as `npm run bench --` runs it. */
const bench = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolveRun) => {
    const child = spawn(process.execPath, [resolve(repoRoot, 'bench/run.mjs'), ...args], { timeout: 120_000, env: { ...process.env, ...env } });
    let [stdout, stderr] = ['', ''];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolveRun({ status, stdout, stderr }));
  });

/** A target as bench/run.mjs reports it: a real value, the bound given, and `met` true to both. */
function expectTarget(target: Target | undefined, what: string, op: Target['op'], bound: number) {
  expect(target).toMatchObject({ what, op, bound });
  expect(target!.value).toBeGreaterThan(0);
  expect(target!.met).toBe(op === '>=' ? target!.value >= bound : target!.value <= bound);
}

describe('npm run bench -- --smoke', () => {
  // One run at a time: run side by side, their dozen processes on two cores made the test files
  // that ran beside this one miss their timeouts.
  it('runs jobpipe durable, traced and in memory and raw-zeromq-packed, with warm-ups before the throughput and latency runs, and writes the report', async () => {
    const json = join(dir, 'bench.json');
    const run = await bench([
      '--smoke',
      '--systems',
      'jobpipe-durable,jobpipe-traced,jobpipe-memory,raw-zeromq-packed',
      '--warmup-jobs',
      '200',
      '--warmup-seconds',
      '0.02',
      '--json',
      json,
    ]);
    expect(run.status, run.stderr).toBe(0);
    type Spread = { p50: number; p99: number; min: number; max: number };
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      rows: {
        system: string;
        jobs_per_s: Stats;
        mb_per_s?: Stats;
        offered_jobs_per_s?: number;
        cold_jobs_per_s: { median: number };
        p50_ms: number;
        p99_ms: number;
        latency_stages_ms?: { toWorker: Spread; toRecorded: Spread };
        p50_by_tenth_ms?: number[];
        targets?: Target[];
        steady_state?: {
          rounds: number;
          jobs: number;
          warmup_jobs: number;
          durable_jobs_per_s_by_round: number[];
          traced_jobs_per_s_by_round: number[];
          ratio_by_round: number[];
          ratio: number;
          ratio_lower_95: number;
          ratio_upper_95: number;
          pair_spread: number;
          verdict: 'met' | 'not met' | 'undecided';
          exports: { requests: number; bytes: number };
        };
      }[];
      ratios: Record<string, number>;
      memoryRatios: Record<string, number>;
      warmupSeconds: number;
      warmupJobs: number;
      offeredRate: number | null;
      rateShare: number | null;
      latencyClock: string;
    };
    expect(report.latencyClock).toMatch(/CLOCK_MONOTONIC/);
    // At 100 bytes the latency runs keep the load the targets are stated at, the same for all.
    expect(report).toMatchObject({ offeredRate: 10_000, rateShare: null });
    // 200 jobs of warm-up at 10,000 jobs/s, then the smoke run's 300 measured.
    expect(report.warmupSeconds).toBe(0.02);
    // Throughput: 200 jobs of warm-up (the cold figure), then the 300 timed.
    expect(report.warmupJobs).toBe(200);
    expect(report.rows.map((row) => row.system)).toEqual(['jobpipe-durable', 'jobpipe-traced', 'jobpipe-memory', 'raw-zeromq-packed']);
    for (const row of report.rows) {
      expect(row.jobs_per_s.median).toBeGreaterThan(0);
      expect(row.jobs_per_s.min).toBeLessThanOrEqual(row.jobs_per_s.max);
      expect(row.cold_jobs_per_s.median).toBeGreaterThan(0);
      expect(row.p50_ms).toBeGreaterThan(0);
      expect(row.p99_ms).toBeGreaterThanOrEqual(row.p50_ms);
      expectBandwidth(row, 100);
      expect(row.offered_jobs_per_s).toBe(10_000);
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
    expect(report.ratios['jobpipe-traced']).toBeGreaterThan(0);
    // The tracing target is judged on its own pairs of runs (two at smoke sizes), traced ones that
    // exported, by the 95% upper bound of the pairs' geometric mean.
    const traced = report.rows.find((row) => row.system === 'jobpipe-traced');
    const steady = traced?.steady_state;
    expect(steady).toMatchObject({ rounds: 2, jobs: 300, warmup_jobs: 200 });
    expect(steady!.exports.requests).toBeGreaterThan(0);
    expect(steady!.exports.bytes).toBeGreaterThan(0);
    const [durableJobsPerSecond, tracedJobsPerSecond] = [steady!.durable_jobs_per_s_by_round, steady!.traced_jobs_per_s_by_round];
    expect(durableJobsPerSecond).toHaveLength(2);
    expect(tracedJobsPerSecond).toHaveLength(2);
    for (const jobsPerSecond of [...durableJobsPerSecond, ...tracedJobsPerSecond]) expect(jobsPerSecond).toBeGreaterThan(0);
    const pairRatios = durableJobsPerSecond.map((durable, pair) => durable / tracedJobsPerSecond[pair]!);
    expect(steady!.ratio_by_round).toHaveLength(2);
    for (const [pair, ratio] of steady!.ratio_by_round.entries()) expect(ratio).toBeCloseTo(pairRatios[pair]!, 2);
    expect(steady!.ratio).toBeCloseTo(Math.sqrt(pairRatios[0]! * pairRatios[1]!), 2);
    expect(steady!.ratio_lower_95).toBeLessThanOrEqual(steady!.ratio);
    expect(steady!.ratio_upper_95).toBeGreaterThanOrEqual(steady!.ratio);
    const verdict = steady!.ratio_upper_95 <= 1.05 ? 'met' : steady!.ratio_lower_95 > 1.05 ? 'not met' : 'undecided';
    expect(steady!.verdict).toBe(verdict);
    expectTarget(traced?.targets?.[0], 'jobpipe-durable / this, steady state, 95% upper bound', '<=', 1.05);
    expect(traced!.targets![0]!.value).toBe(steady!.ratio_upper_95);
    expect(run.stdout).toMatch(
      /jobpipe-traced steady state, 2 pairs of 300 jobs after 200: durable [\d,]+, [\d,]+ jobs\/s, traced [\d,]+, [\d,]+; durable \/ traced by pair [\d.]+x, [\d.]+x; geometric mean [\d.]+x, 95% bounds [\d.]+x to [\d.]+x, one pair's spread [\d.]+%: (within 5% \(met\)|over 5% \(NOT met\)|undecided by 2 pairs)/,
    );
    expect(report.ratios['raw-zeromq-packed']).toBeGreaterThan(0);
    // jobpipe in memory against the limit of ZeroMQ here: a column of the table and a line of its own.
    expect(report.memoryRatios['raw-zeromq-packed']).toBeGreaterThan(0);
    const packed = report.rows.find((row) => row.system === 'raw-zeromq-packed');
    expectTarget(packed?.targets?.[0], 'jobpipe-memory / this', '>=', 0.7);
    expect(packed?.targets?.[0]?.value).toBe(report.memoryRatios['raw-zeromq-packed']);
    expect(run.stdout).toMatch(/jobpipe-durable\s+[\d,]+/);
    expect(run.stdout).toMatch(/raw-zeromq-packed\s+[\d,]+/);
    expect(run.stdout).toMatch(/jobpipe-memory \/ raw-zeromq-packed \(50 jobs a message, no persistence\): [\d.]+x \(target >= 0\.7x\): (met|NOT met)/);
  }, 150_000);

  it('at another payload size, states MB/s and offers each system half its own median for latency', async () => {
    const json = join(dir, 'payload.json');
    const run = await bench(['--smoke', '--systems', 'raw-zeromq-packed', '--payload-bytes', '2000', '--json', json]);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      payloadBytes: number;
      offeredRate: number | null;
      rateShare: number | null;
      rows: { system: string; jobs_per_s: Stats; mb_per_s?: Stats; offered_jobs_per_s?: number; p50_ms: number }[];
    };
    expect(report).toMatchObject({ payloadBytes: 2000, offeredRate: null, rateShare: 0.5 });
    const [row] = report.rows;
    expect(row!.jobs_per_s.median).toBeGreaterThan(0);
    expectBandwidth(row!, 2000);
    expect(row!.offered_jobs_per_s).toBe(Math.max(1, Math.round(row!.jobs_per_s.median / 2)));
    expect(row!.p50_ms).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/MB\/s: median jobs\/s x 2,000 payload bytes .*: 0\.5 of each system's median/);
    // One load or the other: both is a bad command line.
    const both = await bench(['--smoke', '--systems', 'raw-zeromq-packed', '--rate', '100', '--rate-share', '0.5']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--rate or --rate-share, not both/);
  }, 150_000);

  it('runs the benchmarks with scripts of their own, small, each row with real figures and its targets', async () => {
    const json = join(dir, 'scripted.json');
    // One worker each: a process fewer to start for each of the three.
    const run = await bench(['--smoke', '--systems', 'jobpipe-stream,jobpipe-small-batches,jobpipe-head-of-line', '--workers', '1', '--json', json]);
    expect(run.status, run.stderr).toBe(0);
    type Row = {
      system: string;
      jobs_per_s: { median: number; min: number; max: number };
      jobs?: number;
      producers?: number;
      batches?: number;
      batches_per_s?: { median: number };
      alone_jobs_per_s?: number;
      big_kept?: number;
      p50_ms?: number;
      p99_ms?: number;
      max_ms?: number;
      small_batches?: number;
      targets?: Target[];
    };
    const report = JSON.parse(readFileSync(json, 'utf8')) as { smoke: boolean; rows: Row[] };
    expect(report.smoke).toBe(true);
    expect(report.rows.map((row) => row.system)).toEqual(['jobpipe-stream', 'bullmq-stream', 'jobpipe-small-batches', 'jobpipe-head-of-line']);
    const [stream, bullmq, small, headOfLine] = report.rows as [Row, Row, Row, Row];
    for (const row of report.rows) {
      expect(row.jobs_per_s.median).toBeGreaterThan(0);
      expect(row.jobs_per_s.min).toBeLessThanOrEqual(row.jobs_per_s.max);
    }
    // The same jobs and producers for both, the smoke run's few.
    expect(stream).toMatchObject({ jobs: 400, producers: 2 });
    expect(bullmq).toMatchObject({ jobs: 400, producers: 2 });
    expectTarget(stream.targets?.[0], 'this / bullmq-stream', '>=', 5);
    expect(stream.targets![0]!.value).toBeCloseTo(stream.jobs_per_s.median / bullmq.jobs_per_s.median, 1);
    expect(small.batches).toBe(300);
    expect(small.jobs).toBeGreaterThan(small.batches!);
    expectTarget(small.targets?.[0], 'batches/s', '>=', 5000);
    expect(small.targets![0]!.value).toBe(small.batches_per_s!.median);
    expect(headOfLine.small_batches).toBe(30);
    expect(headOfLine.p50_ms).toBeGreaterThan(0);
    expect(headOfLine.p99_ms).toBeGreaterThanOrEqual(headOfLine.p50_ms!);
    expect(headOfLine.max_ms).toBeGreaterThanOrEqual(headOfLine.p99_ms!);
    expect(headOfLine.alone_jobs_per_s).toBeGreaterThan(0);
    expectTarget(headOfLine.targets?.[0], 'p99 ms', '<=', 100);
    expectTarget(headOfLine.targets?.[1], 'big batch kept', '>=', 0.9);
    expect(headOfLine.targets![1]!.value).toBe(headOfLine.big_kept);
    expect(run.stdout).toMatch(/jobpipe-stream\s+[\d,]+ .* this \/ bullmq-stream [\d.]+x \(>= 5x\): (met|NOT met)/);
    expect(run.stdout).toMatch(/jobpipe-head-of-line\s+[\d,]+ .* p99 ms [\d.]+ \(<= 100\): (met|NOT met); big batch kept [\d.]+ \(>= 0\.9\): (met|NOT met)/);
  }, 150_000);

  it('fails a jobpipe run whose latencies are negative', async () => {
    // Creation stamped a minute late. No warm-up for the throughput, so the latency run is what fails.
    const run = await bench(['--smoke', '--systems', 'jobpipe-memory', '--warmup-jobs', '0', '--warmup-seconds', '0'], { JOBPIPE_BENCH_SKEW_MS: '60000' });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/bench: FAILED: jobpipe-memory, creation to recorded: impossible latency: min -\d+/);
  }, 150_000);

  it('fails a baseline run whose latencies are longer than the run', async () => {
    // Creation stamped ten minutes early: every job would have taken longer than the whole run.
    const run = await bench(['--smoke', '--systems', 'raw-zeromq-packed', '--warmup-jobs', '0'], { JOBPIPE_BENCH_SKEW_MS: '-600000' });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/raw-zeromq-packed: FAILED: impossible latency: min 6\d{5}\.\d+ ms, max \d+\.\d+ ms in a run of/);
    expect(run.stderr).toMatch(/bench: FAILED: raw-zeromq-packed exited 1/);
  }, 150_000);
});
