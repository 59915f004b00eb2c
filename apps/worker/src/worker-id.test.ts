import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@jobpipe/config';
import { defaultWorkerId } from './worker-id.js';
import { workerSettings } from './settings.js';

describe('the default worker id', () => {
  it("is the host name alone for PID 1, a container's main process: stable for the container's life", () => {
    expect(defaultWorkerId('worker-7d9f-x2k4q', 1)).toBe('worker-7d9f-x2k4q');
    expect(defaultWorkerId('worker-7d9f-x2k4q', 1)).toBe(defaultWorkerId('worker-7d9f-x2k4q', 1));
  });

  it('is the host name and the pid otherwise: two workers on one host have two ids', () => {
    expect(defaultWorkerId('build-7', 4711)).toBe('build-7-4711');
    expect(defaultWorkerId('build-7', 4711)).not.toBe(defaultWorkerId('build-7', 4712));
  });

  it('is what a worker gets without JOBPIPE_WORKER_ID, and the setting still wins', () => {
    const env = { JOBPIPE_PIPELINE: new URL('./worker-id.test.ts', import.meta.url).pathname };
    expect(loadConfig(workerSettings, { env }).workerId).toBe(defaultWorkerId());
    expect(defaultWorkerId()).toBe(process.pid === 1 ? hostname() : `${hostname()}-${process.pid}`);
    expect(loadConfig(workerSettings, { env: { ...env, JOBPIPE_WORKER_ID: 'mine' } }).workerId).toBe('mine');
    expect(loadConfig(workerSettings, { env, flags: { 'worker-id': 'flagged' } }).workerId).toBe('flagged');
  });
});
