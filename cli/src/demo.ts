import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { integer, setting } from '@jobpipe/config';
import { BatchEvents, Stack } from '@jobpipe/launcher';
import type { BatchSummary } from '@jobpipe/protocol';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, 'main.js');
const primesPipelinePath = resolve(here, '../../examples/primes/dist/pipeline.js');

export const demoSettings = {
  workers: setting({ env: 'JOBPIPE_DEMO_WORKERS', flag: 'workers', description: 'worker processes to start', default: 3, parse: integer(1, 64) }),
  limit: setting({ env: 'JOBPIPE_DEMO_LIMIT', flag: 'limit', description: 'count the primes below this number', default: 20_000_000, parse: integer(2, 1_000_000_000) }),
  chunk: setting({ env: 'JOBPIPE_DEMO_CHUNK', flag: 'chunk', description: 'numbers per job', default: 100_000, parse: integer(1, 1_000_000_000) }),
  timeoutMs: setting({ env: 'JOBPIPE_DEMO_TIMEOUT_MS', flag: 'timeout-ms', description: 'give up when the batch takes longer', default: 300_000, parse: integer(1000, 86_400_000) }),
};

interface DemoConfig {
  workers: number;
  limit: number;
  chunk: number;
  timeoutMs: number;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const number = (value: number) => value.toLocaleString('en-US');

/**
 * Runs the primes example end to end: sink, workers and ventilator as separate processes on
 * loopback; prints each worker's share, the throughput and the answer checked against a sieve run
 * here; stops every process; exits 0 only when the answer is right.
 */
export async function runDemo(config: DemoConfig): Promise<void> {
  const jobs = Math.ceil(config.limit / config.chunk);
  say(`jobpipe demo: counting the primes below ${number(config.limit)} in ${number(jobs)} jobs of ${number(config.chunk)} numbers`);
  say('persistence: OFF. In-flight jobs live in the ventilator\'s memory only; the Redis-backed ledger is not built yet.');

  let stack: Stack | undefined;
  const killOnExit = () => stack?.killNow();
  process.once('exit', killOnExit);
  const interrupt = () => {
    say('interrupted: stopping every process');
    void stack?.stop().then(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  let events: BatchEvents | undefined;
  let exitCode = 1;
  try {
    stack = await Stack.start({
      command: [process.execPath, cliPath],
      pipeline: primesPipelinePath,
      workers: config.workers,
      startVentilator: false,
    });
    const pids = stack.processes.map((p) => `${p.name} ${p.child.pid}`).join(', ');
    say(`started: ${pids}`);
    let lastShown = 0;
    events = new BatchEvents(stack.endpoints.eventsConnect, (progress) => {
      if (Date.now() - lastShown < 1000) return;
      lastShown = Date.now();
      say(`  progress: ${number(progress.done)}/${progress.total === null ? '?' : number(progress.total)} jobs`);
    });
    // A subscriber needs a moment to connect before the first event it must not miss.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const batchId = `demo-${Date.now().toString(36)}`;
    await stack.startVentilator({
      JOBPIPE_INPUT: JSON.stringify({ limit: config.limit, chunk: config.chunk }),
      JOBPIPE_BATCH_ID: batchId,
    });
    say(`started: ventilator ${stack.ventilator!.child.pid}; batch ${batchId} submitted`);
    const summary = await events.completed(batchId, config.timeoutMs);
    exitCode = report(summary, config.limit) ? 0 : 1;
  } finally {
    await events?.close();
    if (stack) {
      await stack.stop();
      const codes = stack.processes.map((p) => `${p.name}=${p.child.exitCode ?? p.child.signalCode}`).join(' ');
      say(`stopped all ${stack.processes.length} processes (exit codes: ${codes})`);
      if (stack.processes.some((p) => p.running)) exitCode = 1;
    }
    process.off('exit', killOnExit);
  }
  process.exit(exitCode);
}

function report(summary: BatchSummary, limit: number): boolean {
  const answer = summary.answer as { primes: number; ranges: number } | null;
  say(`batch ${summary.batch} completed: ${number(summary.jobs)} jobs (${summary.failed} failed) in ${summary.wallSeconds.toFixed(2)} s, ${summary.jobsPerSecond.toFixed(1)} jobs/s`);
  say('jobs per worker:');
  for (const [worker, count] of Object.entries(summary.perWorker).sort()) {
    say(`  ${worker.padEnd(12)} ${String(count).padStart(6)}  ${'#'.repeat(Math.round((40 * count) / Math.max(1, summary.jobs)))}`);
  }
  const started = Date.now();
  const expected = countPrimesWithSieve(limit);
  const verified = answer?.primes === expected && summary.failed === 0;
  say(`answer: ${answer ? number(answer.primes) : 'none'} primes below ${number(limit)}; a sieve in this process says ${number(expected)} (${Date.now() - started} ms): ${verified ? 'VERIFIED' : 'MISMATCH'}`);
  return verified;
}

// Imported lazily from the example so the CLI does not depend on it at build time.
function countPrimesWithSieve(limit: number): number {
  const composite = new Uint8Array(limit);
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (composite[n]) continue;
    count++;
    for (let m = n * n; m < limit; m += n) composite[m] = 1;
  }
  return count;
}
