/**
 * The Python worker's own suite (workers/python/tests, unittest): the codec against every
 * protocol vector, credit windows, packing, settings, and end-to-end runs of the worker against
 * a fake ventilator and sink.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { findPython, pythonWorkerEnv, REPO_ROOT } from './python.js';

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env: pythonWorkerEnv() });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, output }));
  });
}

describe('python worker', () => {
  it('passes its unittest suite', async () => {
    const python = findPython();
    const { code, output } = await run(python, ['-m', 'unittest', 'discover', '-s', 'workers/python/tests']);
    // unittest writes its summary on stderr: the last lines say what failed, if anything did.
    expect(output, output.slice(-4000)).toMatch(/\nOK/);
    expect(code, output.slice(-4000)).toBe(0);
    expect(Number(/Ran (\d+) tests?/.exec(output)?.[1])).toBeGreaterThan(20);
  });
});
