/**
 * The chaos harness (chaos/run.mjs), small: a batch of 3,000 jobs, 2 smaller batches submitted
 * while it runs (one with a priority) and 400 single jobs added one call each, while workers are
 * SIGKILLed every ~1.5 s and the ventilator, the sink and Redis once each. Every job of every
 * batch and bucket must end with exactly one recorded result, checked by the harness in Redis,
 * every single job must be done with its own value, a key given twice must give one job, and
 * every kind of kill must have happened. Then the same with `--faults snapshot` (Redis restored
 * from a snapshot 3 s old mid-run) and with `--faults failover` (a Sentinel failover to a replica
 * that lagged 2 s), each losing acknowledged writes: every batch must still end whole, and only
 * single jobs added while Redis was losing writes may be lost (docs/durability.md: not repaired),
 * counted apart. Last, with two pipelines (`--pipelines 2`): echo and tally on one ventilator and
 * sink, a pool of workers for each and one serving both, the kills taking the pools in turn: nothing
 * lost or duplicated in either pipeline, each batch's answer right, and no job recorded by a
 * worker that does not serve its pipeline.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cleanup, repoRoot } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

interface KindFigures {
  jobs: number;
  results: number;
  lost: number;
  duplicates: number;
  dead: number;
}

interface PipelineFigures extends KindFigures {
  batches: number;
  singleJobs: number;
  wrongAnswers: number;
  foreignJobs: number;
  workers: string[];
  workerKills: number;
}

interface ChaosJson extends KindFigures {
  redelivered: number;
  lostWithWrites: number;
  kills: { worker: number; ventilator: number; sink: number; redis?: number; snapshot?: number; failover?: number };
  seconds: number;
  kinds: {
    batch: KindFigures & { seconds: number };
    batches: KindFigures & { count: number; resubmitted: number };
    single: KindFigures & { buckets: number; keysGivenTwice: number; done: number; wrongValues: number; lostWithWrites: number };
  };
  /** --pipelines 2 only. */
  pipelines?: { echo: PipelineFigures; tally: PipelineFigures };
  pools?: { echo: number; tally: number; both?: number };
}

const jobs = 3000;
const singleJobs = 400;

/** Runs the harness small (as `npm run chaos` with these flags, plus `extra`); its exit code, output and JSON. */
async function runChaos(
  extra: string[],
  size: { jobs: number; singleJobs: number; workMs: number } = { jobs, singleJobs, workMs: 5 },
): Promise<{ code: number | null; output: string; result: () => ChaosJson }> {
  const dir = mkdtempSync(join(tmpdir(), 'jobpipe-chaos-test-'));
  cleanup.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const jsonPath = join(dir, 'chaos.json');
  const args = [
    resolve(repoRoot, 'chaos/run.mjs'),
    '--jobs',
    String(size.jobs),
    '--workers',
    '3',
    '--work-ms',
    String(size.workMs),
    '--kill-every-ms',
    '1500',
    '--seed',
    '7',
    '--batches',
    '2',
    '--batch-jobs',
    '300',
    '--single-jobs',
    String(size.singleJobs),
    '--timeout-s',
    '50',
    '--json',
    jsonPath,
    ...extra,
  ];
  const child = cleanup.child(spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Stopped before the test's own timeout, so that a hang fails with the harness's timeline
  // and the path of its process logs instead of a bare timeout.
  const interrupt = setTimeout(() => child.kill('SIGTERM'), 75_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  clearTimeout(interrupt);
  return { code, output, result: () => JSON.parse(readFileSync(jsonPath, 'utf8')) as ChaosJson };
}

const KEYS = ['dead', 'duplicates', 'jobs', 'kills', 'kinds', 'lost', 'lostWithWrites', 'redelivered', 'results', 'seconds'];

describe('chaos harness', () => {
  it('loses and duplicates nothing, in a batch, smaller batches and single jobs at once, while workers, the ventilator, the sink and Redis are SIGKILLed', async () => {
    const run = await runChaos([]);
    const { code, output } = run;
    // The harness's own output says what went wrong and where its process logs are.
    expect(code, output).toBe(0);
    const result = run.result();
    expect(Object.keys(result).sort()).toEqual(KEYS);
    expect(result.lostWithWrites).toBe(0);
    const { batch, batches, single } = result.kinds;
    expect(batch, output).toMatchObject({ jobs, results: jobs, lost: 0, duplicates: 0, dead: 0 });
    expect(batches.count, output).toBe(2);
    expect(batches.jobs, output).toBeGreaterThanOrEqual(2 * 75);
    expect(batches, output).toMatchObject({ results: batches.jobs, lost: 0, duplicates: 0, dead: 0 });
    expect(single, output).toMatchObject({ jobs: singleJobs, results: singleJobs, lost: 0, duplicates: 0, dead: 0, done: singleJobs, wrongValues: 0 });
    expect(single.keysGivenTwice, output).toBeGreaterThan(0);
    expect(single.buckets, output).toBeGreaterThanOrEqual(2);
    const total = jobs + batches.jobs + singleJobs;
    expect(result, output).toMatchObject({ jobs: total, results: total, lost: 0, duplicates: 0, dead: 0 });
    for (const kind of ['worker', 'ventilator', 'sink', 'redis'] as const) expect(result.kills[kind], `${kind} kills\n${output}`).toBeGreaterThanOrEqual(1);
    expect(result.redelivered).toBeGreaterThanOrEqual(0);
    expect(result.seconds).toBeGreaterThan(0);
  }, 90_000); // --timeout-s 50 for the jobs, plus start-up, the checks and the cleanup on a busy machine

  const faults = {
    snapshot: 'Redis restored from a snapshot 3 s old mid-run',
    failover: 'a Sentinel failover to a replica that lagged 2 s',
  };
  for (const [fault, what] of Object.entries(faults) as [keyof typeof faults, string][])
    it(`with ${what} (--faults ${fault}), every batch still ends whole and only single jobs added while Redis was losing writes may be lost`, async () => {
      const run = await runChaos(['--faults', fault]);
      const { code, output } = run;
      expect(code, output).toBe(0);
      const result = run.result();
      expect(Object.keys(result).sort()).toEqual(KEYS);
      expect(result.kills[fault], `${fault} faults\n${output}`).toBe(1);
      expect(result.kills.redis, output).toBeUndefined(); // no kill of Redis unless --faults names it
      for (const kind of ['worker', 'ventilator', 'sink'] as const) expect(result.kills[kind], `${kind} kills\n${output}`).toBeGreaterThanOrEqual(1);
      const { batch, batches, single } = result.kinds;
      // The batches are repaired whole: the big one, and the smaller ones, the last of them submitted
      // while Redis was losing writes (submitAndWait submits it again if Redis lost it).
      expect(batch, output).toMatchObject({ jobs, results: jobs, lost: 0, duplicates: 0, dead: 0 });
      expect(batches.count, output).toBe(2);
      expect(batches, output).toMatchObject({ results: batches.jobs, lost: 0, duplicates: 0, dead: 0 });
      expect(output).toMatch(/submitted batch \S+-b2: .*while Redis is losing writes/);
      // Single jobs: every one added outside the loss is done with its own value; those added during
      // it are done too, or lost with the writes (counted apart, not as a loss).
      expect(single, output).toMatchObject({ lost: 0, duplicates: 0, dead: 0, wrongValues: 0 });
      expect(single.jobs, output).toBeGreaterThanOrEqual(singleJobs);
      expect(single.done + single.lostWithWrites, output).toBe(single.jobs);
      expect(single.results, output).toBe(single.done);
      expect(single.done, output).toBeGreaterThan(singleJobs / 2);
      expect(result.lostWithWrites, output).toBe(single.lostWithWrites);
      expect(output).toMatch(/single jobs lost with the writes Redis lost \(not repaired, docs\/durability\.md\): \d+/);
      expect(result, output).toMatchObject({ lost: 0, duplicates: 0, dead: 0 });
      expect(result.results + result.lostWithWrites, output).toBe(result.jobs);
    }, 90_000);

  it('with two pipelines (--pipelines 2), a worker pool each and one worker serving both, loses and duplicates nothing in either, and no worker records a job of a pipeline it does not serve', async () => {
    // Smaller than the runs above, to stay within ~20 s: the big batch has two of the three workers.
    const size = { jobs: 800, singleJobs: 150, workMs: 4 };
    const run = await runChaos(['--pipelines', '2', '--batch-jobs', '400', '--kill-every-ms', '1200'], size);
    const { code, output } = run;
    expect(code, output).toBe(0);
    const result = run.result();
    expect(Object.keys(result).sort()).toEqual([...KEYS, 'pipelines', 'pools'].sort());
    const { echo, tally } = result.pipelines!;
    // echo: the big batch, the second smaller batch and the single jobs; tally: the first smaller batch.
    expect(echo, output).toMatchObject({ batches: 2, singleJobs: size.singleJobs, lost: 0, duplicates: 0, dead: 0, wrongAnswers: 0, foreignJobs: 0 });
    expect(tally, output).toMatchObject({ batches: 1, singleJobs: 0, lost: 0, duplicates: 0, dead: 0, wrongAnswers: 0, foreignJobs: 0 });
    expect(echo.workers).toEqual(['worker-1', 'worker-3']);
    expect(tally.workers).toEqual(['worker-2', 'worker-3']);
    expect(echo.jobs, output).toBeGreaterThanOrEqual(size.jobs + 100 + size.singleJobs);
    expect(tally.jobs, output).toBeGreaterThanOrEqual(100);
    for (const figures of [echo, tally]) expect(figures.results, output).toBe(figures.jobs);
    expect(echo.jobs + tally.jobs, output).toBe(result.jobs);
    // Each pipeline's own pool lost workers, replaced in the same pool.
    expect(result.pools!.echo, output).toBeGreaterThanOrEqual(1);
    expect(result.pools!.tally, output).toBeGreaterThanOrEqual(1);
    expect(result.kinds.batch, output).toMatchObject({ jobs: size.jobs, results: size.jobs, lost: 0, duplicates: 0, dead: 0 });
    expect(result.kinds.single, output).toMatchObject({ jobs: size.singleJobs, done: size.singleJobs, lost: 0, duplicates: 0, wrongValues: 0 });
    expect(result, output).toMatchObject({ lost: 0, duplicates: 0, dead: 0, lostWithWrites: 0 });
    for (const kind of ['worker', 'ventilator', 'sink', 'redis'] as const) expect(result.kills[kind], `${kind} kills\n${output}`).toBeGreaterThanOrEqual(1);
    expect(output).toMatch(
      / {4}tally: 1 batch\(es\), jobs [\d,]+; results in Redis \(HLEN\) [\d,]+; lost 0; duplicates 0; dead letters 0; answers wrong 0; jobs recorded by a worker not serving tally 0/,
    );
  }, 90_000); // as above: the harness's own timeout reports a hang first
});
