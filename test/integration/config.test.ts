/**
 * Configuration is validated at start: an invalid value gets one clear line on stderr naming the
 * setting, and exit code 2, before anything is bound or connected. Flags override env.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '@jobpipe/launcher';
import { workerSettings } from '@jobpipe/worker';
import { Cleanup, echoPipeline, fetchText, primesModule, primesPipeline, runCli, waitFor, within } from './helpers.js';

const cleanup = new Cleanup();
// Not afterEach at the top: the cleanup also kills stray jobpipe processes of this test file, which
// would hit the concurrent tests' processes. Those clean up after themselves (runToExit).
afterAll(() => cleanup.run());

/**
 * Runs the CLI and waits for it to exit; a process that starts and runs instead fails the test
 * and is killed here (not by the shared cleanup: these tests run concurrently).
 */
async function runToExit(args: string[], env: Record<string, string>) {
  const run = runCli(args, env);
  try {
    return await within(`jobpipe ${args.join(' ')} to exit`, 20_000, run.exited);
  } finally {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  }
}

// A valid base, so that each case breaks exactly one setting. Metrics port 0: should a broken
// case start after all, it must not collide with anything.
const valid = { JOBPIPE_PIPELINE: echoPipeline, JOBPIPE_METRICS_PORT: '0', JOBPIPE_LOG_LEVEL: 'warn' };

const badConfigs: { name: string; role: string; env: Record<string, string>; args?: string[]; names: string; says: RegExp }[] = [
  { name: 'metrics port out of range', role: 'worker', env: { JOBPIPE_METRICS_PORT: '70000' }, names: 'JOBPIPE_METRICS_PORT', says: /70000/ },
  { name: 'metrics port out of range (sink)', role: 'sink', env: { JOBPIPE_METRICS_PORT: '70000' }, names: 'JOBPIPE_METRICS_PORT', says: /70000/ },
  {
    name: 'jobs endpoint that is not a ZeroMQ address',
    role: 'worker',
    env: { JOBPIPE_JOBS_CONNECT: 'http://x' },
    names: 'JOBPIPE_JOBS_CONNECT',
    says: /http:\/\/x/,
  },
  {
    name: 'jobs bind that is not a ZeroMQ address',
    role: 'ventilator',
    env: { JOBPIPE_JOBS_BIND: 'localhost:5557' },
    names: 'JOBPIPE_JOBS_BIND',
    says: /localhost:5557/,
  },
  { name: 'missing pipeline module', role: 'worker', env: { JOBPIPE_PIPELINE: '/nope.js' }, names: 'JOBPIPE_PIPELINE', says: /\/nope\.js/ },
  { name: 'worker id too long', role: 'worker', env: { JOBPIPE_WORKER_ID: 'w'.repeat(256) }, names: 'JOBPIPE_WORKER_ID', says: /256 bytes long: at most 200/ },
  { name: 'non-integer concurrency', role: 'worker', env: { JOBPIPE_CONCURRENCY: '2.5' }, names: 'JOBPIPE_CONCURRENCY', says: /2\.5/ },
  {
    name: 'credit in bytes below the message limit',
    role: 'worker',
    env: { JOBPIPE_CREDIT_BYTES: '2048' },
    names: 'JOBPIPE_CREDIT_BYTES',
    says: /2048 is below JOBPIPE_MAX_MESSAGE_BYTES/,
  },
  { name: 'input that is not JSON', role: 'ventilator', env: { JOBPIPE_INPUT: '{jobs: 3}' }, names: 'JOBPIPE_INPUT', says: /JSON/ },
  { name: 'bad value given as a flag', role: 'worker', env: {}, args: ['--concurrency', 'many'], names: '--concurrency', says: /many/ },
  {
    name: 'an --input batch for one of several pipelines, none named',
    role: 'ventilator',
    env: { JOBPIPE_PIPELINE: `${echoPipeline},${primesPipeline}`, JOBPIPE_INPUT: '{"jobs": 3}' },
    names: 'JOBPIPE_INPUT_PIPELINE',
    says: /one of echo, primes/,
  },
  {
    name: 'two modules of one pipeline name',
    role: 'sink',
    env: { JOBPIPE_PIPELINE: `${echoPipeline},${echoPipeline}` },
    names: 'JOBPIPE_PIPELINE',
    says: /a second pipeline named echo/,
  },
];

// Each case is one short-lived process: run a few at once.
describe.concurrent('invalid configuration', () => {
  for (const bad of badConfigs) {
    it(`${bad.role}: ${bad.name} exits 2 with one line naming ${bad.names}`, async ({ expect }) => {
      const { code, stdout, stderr } = await runToExit([bad.role, ...(bad.args ?? [])], { ...valid, ...bad.env });
      expect(code).toBe(2);
      const lines = stderr.trimEnd().split('\n');
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toContain(bad.names);
      expect(lines[0]).toMatch(bad.says);
      expect(lines[0]).not.toMatch(/\n| {4}at /); // one line, no stack trace
      expect(stdout).toBe(''); // nothing was started, so nothing was logged
    });
  }

  it('a module that is not a pipeline exits 2 with one line naming it', async ({ expect }) => {
    // An existing module without a default export: the primes example's helper functions.
    const notAPipeline = primesModule;
    const { code, stdout, stderr } = await runToExit(['worker'], { ...valid, JOBPIPE_PIPELINE: notAPipeline });
    expect(code).toBe(2);
    expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
    expect(stderr).toContain(notAPipeline);
    expect(stderr).toMatch(/default export/);
    expect(stdout).toBe('');
  });
});

describe('configuration', () => {
  afterEach(() => cleanup.run());

  it('jobpipe worker --help exits 0 and lists every flag with its env var', async () => {
    const { code, stdout } = await runToExit(['worker', '--help'], {});
    expect(code).toBe(0);
    for (const setting of Object.values(workerSettings)) {
      expect(stdout).toContain(`--${setting.flag} <value>`);
      expect(stdout.replace(/\s+/g, ' ')).toContain(`env ${setting.env}`);
    }
  });

  it('a flag overrides the env (whose bad value is then not even read); the env counts where no flag is given', async () => {
    const port = await freePort();
    const worker = runCli(
      ['worker', '--concurrency', '3', '--metrics-port', String(port)],
      {
        ...valid,
        JOBPIPE_CONCURRENCY: 'not a number',
        JOBPIPE_METRICS_PORT: '70000',
        JOBPIPE_WORKER_ID: 'from-env',
        JOBPIPE_LOG_LEVEL: 'info',
        // Nobody listens there: the worker just keeps trying, which is fine for this test.
        JOBPIPE_JOBS_CONNECT: 'tcp://127.0.0.1:9',
        JOBPIPE_RESULTS_CONNECT: 'tcp://127.0.0.1:9',
        // On SIGTERM, do not wait long for a ventilator that is not there.
        JOBPIPE_HEARTBEAT_MS: '100',
      },
      cleanup,
    );
    const ready = await waitFor(
      'the worker to log ready',
      () =>
        worker.stdout
          .split('\n')
          .map(parse)
          .find((line) => line?.msg === 'ready'),
      20_000,
    );
    expect(ready).toMatchObject({ concurrency: 3, metricsPort: port, worker: 'from-env' });
    // And it serves on the port from the flag.
    expect(await fetchText(`http://127.0.0.1:${port}/readyz`)).toContain('ready');
    worker.child.kill('SIGTERM');
    expect((await within('worker exit', 15_000, worker.exited)).code).toBe(0);
  });
});

function parse(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
