/**
 * `npm test` starts with scripts/test-prerequisites.mjs: on a machine that lacks a program the
 * tests need, it names it with its Debian package and exits 1; here (CI installed them) it passes.
 * `.ci/run` asks it which packages to install (`--packages`).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const script = resolve(repoRoot, 'scripts/test-prerequisites.mjs');
const check = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [script], { env: { ...process.env, ...env }, encoding: 'utf8' });

describe('npm test: the prerequisites check', () => {
  it('passes on this machine', () => {
    const run = check({});
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('names what is missing and the packages to install, and exits 1', () => {
    const run = check({ JOBPIPE_TEST_CHROMIUM: '/nonexistent/chromium', JOBPIPE_PYTHON: '/nonexistent/python3' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('npm test: missing a python3 that imports zmq (or JOBPIPE_PYTHON), Chromium at /nonexistent/chromium');
    expect(run.stderr).toContain('sudo apt-get install -y python3-zmq chromium');
  });

  it('--packages prints only the packages to install, for .ci/run, and exits 0', () => {
    const missing = spawnSync(process.execPath, [script, '--packages'], {
      env: { ...process.env, JOBPIPE_TEST_CHROMIUM: '/nonexistent/chromium', JOBPIPE_PYTHON: '/nonexistent/python3' },
      encoding: 'utf8',
    });
    expect([missing.status, missing.stdout, missing.stderr]).toEqual([0, 'python3-zmq chromium\n', '']);
    const none = spawnSync(process.execPath, [script, '--packages'], { encoding: 'utf8' });
    expect([none.status, none.stdout]).toEqual([0, '']);
  });
});
