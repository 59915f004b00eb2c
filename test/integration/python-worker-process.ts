/**
 * A Python worker (workers/python) as a process of its own, for the tests that run one beside
 * the TypeScript roles: started from the source tree with the primes example, ready when its
 * /readyz says so, SIGKILLed by the test's cleanup if it is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '@jobpipe/launcher';
import { findPython, pythonWorkerEnv } from '../python-worker/python.js';
import { hostSettingsBlanked, waitFor, type Cleanup } from './helpers.js';

export interface PythonWorker {
  child: ChildProcess;
  output: () => string;
  metricsPort: number;
}

/** Starts `python3 -m jobpipe_worker jobpipe_worker.examples.primes` and waits for its /readyz. */
export async function startPythonWorker(cleanup: Cleanup, id: string, endpoints: { jobsConnect: string; resultsConnect: string }): Promise<PythonWorker> {
  const metricsPort = await freePort();
  let output = '';
  const child = spawn(findPython(), ['-m', 'jobpipe_worker', 'jobpipe_worker.examples.primes'], {
    env: pythonWorkerEnv({
      ...process.env,
      ...hostSettingsBlanked(),
      JOBPIPE_JOBS_CONNECT: endpoints.jobsConnect,
      JOBPIPE_RESULTS_CONNECT: endpoints.resultsConnect,
      JOBPIPE_WORKER_ID: id,
      JOBPIPE_METRICS_PORT: String(metricsPort),
      JOBPIPE_HEARTBEAT_MS: '200',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  cleanup.add(`python worker ${id}`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitFor(
    `python worker ${id} ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`python worker ${id} exited ${child.exitCode}: ${output}`);
      const answer = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined);
      return answer?.status === 200 || undefined;
    },
    30_000,
    100,
  );
  return { child, output: () => output, metricsPort };
}
