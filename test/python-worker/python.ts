/**
 * Finds a Python interpreter that can run the Python worker (workers/python): one that can
 * `import zmq`. Shared by the tests that run it.
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The package's source folder: on PYTHONPATH, `import jobpipe_worker` works without pip install. */
export const PYTHON_WORKER_DIR = resolve(REPO_ROOT, 'workers', 'python');

const CANDIDATES = ['python3', '/usr/bin/python3'];

function hasPyzmq(python: string): boolean {
  const run = spawnSync(python, ['-c', 'import zmq'], { stdio: 'ignore', timeout: 20_000 });
  return run.status === 0;
}

let found: string | undefined;

/**
 * JOBPIPE_PYTHON if set, else the first of `python3`, `/usr/bin/python3` that can `import zmq`.
 * (A pyenv `python3` on PATH may lack pyzmq where Debian's python3-zmq serves /usr/bin/python3.)
 */
export function findPython(): string {
  if (found !== undefined) return found;
  const chosen = process.env.JOBPIPE_PYTHON || CANDIDATES.find(hasPyzmq);
  if (chosen === undefined) throw new Error('no python3 with pyzmq: apt-get install -y python3-zmq');
  found = chosen;
  return chosen;
}

/** The environment to run the worker from the source tree: PYTHONPATH=workers/python. */
export function pythonWorkerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const path = env.PYTHONPATH ? `${PYTHON_WORKER_DIR}:${env.PYTHONPATH}` : PYTHON_WORKER_DIR;
  return { ...env, PYTHONPATH: path, PYTHONDONTWRITEBYTECODE: '1' };
}
