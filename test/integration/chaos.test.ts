/**
 * The chaos harness (chaos/run.mjs), small: a batch of 3,000 jobs, 2 smaller batches submitted
 * while it runs (one with a priority) and 400 single jobs added one call each, while workers are
 * SIGKILLed every ~1.5 s and the ventilator, the sink and Redis once each. Every job of every
 * batch and bucket must end with exactly one recorded result, checked by the harness in Redis,
 * every single job must be done with its own value, a key given twice must give one job, and
 * every kind of kill must have happened.
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

interface ChaosJson extends KindFigures {
  redelivered: number;
  kills: { worker: number; ventilator: number; sink: number; redis: number };
  seconds: number;
  kinds: {
    batch: KindFigures & { seconds: number };
    batches: KindFigures & { count: number };
    single: KindFigures & { buckets: number; keysGivenTwice: number; done: number; wrongValues: number };
  };
}

describe('chaos harness', () => {
  it('loses and duplicates nothing, in a batch, smaller batches and single jobs at once, while workers, the ventilator, the sink and Redis are SIGKILLed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobpipe-chaos-test-'));
    cleanup.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
    const jsonPath = join(dir, 'chaos.json');
    const jobs = 3000;
    const singleJobs = 400;
    const args = [
      resolve(repoRoot, 'chaos/run.mjs'),
      '--jobs',
      String(jobs),
      '--workers',
      '3',
      '--work-ms',
      '5',
      '--kill-every-ms',
      '1500',
      '--seed',
      '7',
      '--batches',
      '2',
      '--batch-jobs',
      '300',
      '--single-jobs',
      String(singleJobs),
      '--timeout-s',
      '50',
      '--json',
      jsonPath,
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

    // The harness's own output says what went wrong and where its process logs are.
    expect(code, output).toBe(0);
    const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as ChaosJson;
    expect(Object.keys(result).sort()).toEqual(['dead', 'duplicates', 'jobs', 'kills', 'kinds', 'lost', 'redelivered', 'results', 'seconds']);
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
});
