/**
 * The chaos harness (chaos/run.mjs), small: 3,000 jobs while workers are SIGKILLed every ~1.5 s and
 * the ventilator, the sink and Redis once each. Every job must end with exactly one recorded
 * result, checked by the harness in Redis, and every kind of kill must have happened.
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

interface ChaosJson {
  jobs: number;
  results: number;
  lost: number;
  duplicates: number;
  redelivered: number;
  dead: number;
  kills: { worker: number; ventilator: number; sink: number; redis: number };
  seconds: number;
}

describe('chaos harness', () => {
  it('loses and duplicates nothing while workers, the ventilator, the sink and Redis are SIGKILLed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobpipe-chaos-test-'));
    cleanup.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
    const jsonPath = join(dir, 'chaos.json');
    const jobs = 3000;
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
      '--timeout-s',
      '40',
      '--json',
      jsonPath,
    ];
    const child = cleanup.child(spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] }));
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));

    // The harness's own output says what went wrong and where its process logs are.
    expect(code, output).toBe(0);
    const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as ChaosJson;
    expect(Object.keys(result).sort()).toEqual(['dead', 'duplicates', 'jobs', 'kills', 'lost', 'redelivered', 'results', 'seconds']);
    expect(result, output).toMatchObject({ jobs, results: jobs, lost: 0, duplicates: 0, dead: 0 });
    for (const kind of ['worker', 'ventilator', 'sink', 'redis'] as const) expect(result.kills[kind], `${kind} kills\n${output}`).toBeGreaterThanOrEqual(1);
    expect(result.redelivered).toBeGreaterThanOrEqual(0);
    expect(result.seconds).toBeGreaterThan(0);
  });
});
