/**
 * PROTOCOL.md section 10's Python sketch, as a reader would copy it: run against a real sink and
 * ventilator (persistence off) with the primes example. Started before either binds (its first
 * sends find no peer); it serves the whole batch with the right answer, then drains on SIGTERM and
 * exits 0.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchEvents, Stack } from '@jobpipe/launcher';
import { findPython } from '../python-worker/python.js';
import { Cleanup, command, hostSettingsBlanked, repoRoot, within } from './helpers.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/** The one python block of section 10. */
function sketchFromProtocol(): string {
  const text = readFileSync(resolve(repoRoot, 'libs/protocol/PROTOCOL.md'), 'utf8');
  const section = text.split('## 10. ')[1]!.split('\n## 11. ')[0]!;
  const block = /```python\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('PROTOCOL.md section 10 has no python block');
  return block;
}

describe('the Python sketch of PROTOCOL.md section 10', () => {
  it('serves a primes batch from before the roles are up, then drains on SIGTERM', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'jobpipe-sketch-'));
    cleanup.add('scratch', () => rmSync(scratch, { recursive: true, force: true }));
    const script = join(scratch, 'worker.py');
    writeFileSync(script, sketchFromProtocol());
    const stack = await Stack.start({
      command,
      pipeline: resolve(repoRoot, 'examples/primes/dist/pipeline.js'),
      workers: 0,
      startVentilator: false,
      env: { ...hostSettingsBlanked(), JOBPIPE_LOG_LEVEL: 'warn' },
    });
    cleanup.add('stack', () => stack.stop());

    let output = '';
    const worker = spawn(findPython(), [script], {
      env: {
        ...process.env,
        ...hostSettingsBlanked(),
        JOBPIPE_WORKER_ID: 'sketch',
        JOBPIPE_JOBS_CONNECT: stack.endpoints.jobsConnect,
        JOBPIPE_RESULTS_CONNECT: stack.endpoints.resultsConnect,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    worker.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => worker.on('exit', (code, signal) => done({ code, signal })));
    cleanup.add('sketch worker', async () => {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    });

    const events = new BatchEvents(stack.endpoints.eventsConnect);
    cleanup.add('events', () => events.close());
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
    // Some heartbeats with no ventilator to take them (with ZMQ_IMMEDIATE, each send finds no peer).
    await new Promise((resolveWait) => setTimeout(resolveWait, 2500));
    await stack.startVentilator({ JOBPIPE_INPUT: JSON.stringify({ limit: 300_000, chunk: 50_000 }), JOBPIPE_BATCH_ID: 'sketch-1' });
    const summary = await events.completed('sketch-1', 60_000);
    // The primes below 300,000, in 6 ranges, all by the sketch.
    expect(summary.answer, output).toEqual({ primes: 25_997, ranges: 6 });
    expect(summary).toMatchObject({ jobs: 6, failed: 0, perWorker: { sketch: 6 } });

    expect(worker.exitCode, output).toBeNull();
    worker.kill('SIGTERM');
    const { code, signal } = await within('the sketch to drain and exit', 15_000, exited);
    expect({ code, signal }, output).toEqual({ code: 0, signal: null });
  });
});
