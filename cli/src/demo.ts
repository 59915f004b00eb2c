import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JobpipeClient } from '@jobpipe/intake';
import { BatchEvents, RedisServer, redisServerAvailable, runKeys, Stack } from '@jobpipe/launcher';
import { common, loadConfig, redisConnectionFrom, redisSettings, Secret, type RedisConnectionSettings } from '@jobpipe/config';
import { connectFrom, removeKeysUnder } from '@jobpipe/ledger';
import { loadPipeline } from '@jobpipe/pipeline';
import type { BatchSummary } from '@jobpipe/protocol';
import { UsageError } from './usage-error.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, 'main.js');
const primesPipelinePath = resolve(here, '../../examples/primes/dist/pipeline.js');
const primesModulePath = resolve(here, '../../examples/primes/dist/primes.js');

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
  // The examples are not in the packages a project installs: the demo runs from a checkout.
  if (!existsSync(primesPipelinePath)) {
    throw new UsageError(`the demo runs from a jobpipe checkout (after npm ci), where examples/primes is built; ${primesPipelinePath} does not exist here`);
  }
  const jobs = Math.ceil(config.limit / config.chunk);
  say(`jobpipe demo: counting the primes below ${number(config.limit)} in ${number(jobs)} jobs of ${number(config.chunk)} numbers`);

  let stack: Stack | undefined;
  let ownRedis: RedisServer | undefined;
  const killOnExit = () => {
    stack?.killNow();
    ownRedis?.killNow();
  };
  process.once('exit', killOnExit);
  const interrupt = () => {
    say('interrupted: stopping every process');
    void stack
      ?.stop()
      .then(() => ownRedis?.stop())
      .then(() => removeDemoKeys())
      .then(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  let events: BatchEvents | undefined;
  let client: JobpipeClient | undefined;
  /** On the user's own Redis (JOBPIPE_REDIS_URL), the prefix whose keys go once the roles have stopped. */
  let borrowedPrefix: string | undefined;
  const removeDemoKeys = async () => {
    if (!client || borrowedPrefix === undefined) return;
    const prefix = borrowedPrefix;
    borrowedPrefix = undefined;
    await removeKeysUnder(client.redis, prefix).then(
      (removed) => say(`removed the demo's ${removed} keys under ${prefix}: from that Redis`),
      (error: Error) => say(`could not remove the demo's keys under ${prefix}: (${error.message}); they are safe to delete`),
    );
  };
  let exitCode = 1;
  try {
    const persistence = await choosePersistence();
    ownRedis = persistence.server;
    say(persistence.notice);
    // Every socket of the demo uses CURVE, as a deployment beyond one host should (SECURITY.md).
    const keys = runKeys();
    say('sockets: CURVE (encrypted, workers admitted by key), with keys made for this run');
    const env: Record<string, string> = { ...keys.env, ...(persistence.connection ? { ...persistence.env, JOBPIPE_REDIS_PREFIX: persistence.prefix } : {}) };
    stack = await Stack.start({ command: [process.execPath, cliPath], pipeline: primesPipelinePath, workers: config.workers, env, startVentilator: false });
    let lastShown = 0;
    events = new BatchEvents(
      stack.endpoints.eventsConnect,
      (progress) => {
        if (Date.now() - lastShown < 1000) return;
        lastShown = Date.now();
        say(`  progress: ${number(progress.done)}/${progress.total === null ? '?' : number(progress.total)} jobs`);
      },
      keys.client,
    );
    // A subscriber needs a moment to connect before the first event it must not miss.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const batchId = `demo-${Date.now().toString(36)}`;
    const input = { limit: config.limit, chunk: config.chunk };
    if (persistence.connection) {
      // The real way in: the batch waits in the durable intake queue until the ventilator takes it.
      const redis = connectFrom(persistence.connection);
      client = new JobpipeClient(redis, persistence.prefix);
      if (!ownRedis) borrowedPrefix = persistence.prefix;
      await client.submit(await loadPipeline(primesPipelinePath), input, { batchId });
      say(`submitted batch ${batchId} to the intake queue`);
      await stack.startVentilator();
    } else {
      await stack.startVentilator({ JOBPIPE_INPUT: JSON.stringify(input), JOBPIPE_BATCH_ID: batchId, JOBPIPE_MIN_WORKERS: String(config.workers) });
      say(`started the ventilator with batch ${batchId}`);
    }
    say(`processes: ${stack.processes.map((p) => `${p.name} (pid ${p.child.pid})`).join(', ')}`);
    const summary = await events.completed(batchId, config.timeoutMs);
    // The example's sieve, a different method from its ranges' trial division, run here in one process.
    const { countPrimesBelow } = (await import(pathToFileURL(primesModulePath).href)) as { countPrimesBelow: (limit: number) => number };
    exitCode = report(summary, config.limit, countPrimesBelow) ? 0 : 1;
  } finally {
    await events?.close();
    await client?.close();
    if (stack) {
      await stack.stop();
      const codes = stack.processes.map((p) => `${p.name}=${p.child.exitCode ?? p.child.signalCode}`).join(' ');
      say(`stopped all ${stack.processes.length} processes (exit codes: ${codes})`);
      if (stack.processes.some((p) => p.running)) exitCode = 1;
    }
    // After the roles: none of them writes a key again.
    await removeDemoKeys();
    client?.redis.disconnect();
    if (ownRedis) {
      await ownRedis.stop();
      say("stopped the demo's redis-server and removed its directory");
    }
    process.off('exit', killOnExit);
  }
  process.exit(exitCode);
}

interface Persistence {
  /** How the demo's own client connects; none with persistence off. */
  connection?: RedisConnectionSettings;
  /** The roles' Redis settings, on top of the demo's environment. */
  env: Record<string, string>;
  prefix: string;
  server?: RedisServer;
  notice: string;
}

/**
 * JOBPIPE_REDIS_URL (and the other JOBPIPE_REDIS_* settings) if set; else a redis-server of our
 * own with a random password, if one is installed; else memory. No notice shows a password.
 */
async function choosePersistence(): Promise<Persistence> {
  // A prefix of its own: the demo never touches another deployment's keys.
  const prefix = `jobpipe-demo-${Date.now().toString(36)}`;
  if (process.env.JOBPIPE_REDIS_URL) {
    // The roles read the same variables from the environment they inherit.
    const connection = redisConnectionFrom(loadConfig({ redisUrl: common.redisUrl, ...redisSettings }))!;
    return { connection, env: {}, prefix, notice: `persistence: ON, Redis at ${connection.display} (JOBPIPE_REDIS_URL), keys under ${prefix}:` };
  }
  if (redisServerAvailable()) {
    // A password even on loopback: any local user could otherwise read or change the demo's data.
    const password = randomBytes(18).toString('base64url');
    const server = await RedisServer.start({ appendOnly: true, password });
    const url = `redis://127.0.0.1:${server.port}`;
    // The host's other JOBPIPE_REDIS_* settings (a TLS file, a user) are for another Redis: blanked.
    const env = {
      ...Object.fromEntries(Object.values(redisSettings).map((setting) => [setting.env, ''])),
      JOBPIPE_REDIS_URL: url,
      JOBPIPE_REDIS_PASSWORD: password,
    };
    const connection = redisConnectionFrom({ redisUrl: url, redisPassword: new Secret(password) })!;
    return {
      connection,
      env,
      prefix,
      server,
      notice: `persistence: ON, a redis-server of the demo's own on port ${server.port} (AOF on, a random password, in ${server.dir})`,
    };
  }
  return {
    env: {},
    prefix,
    notice: "persistence: OFF. No JOBPIPE_REDIS_URL and no redis-server on PATH: in-flight jobs live in the ventilator's memory only.",
  };
}

function report(summary: BatchSummary, limit: number, countPrimesBelow: (limit: number) => number): boolean {
  const answer = summary.answer as { primes: number; ranges: number } | null;
  say(
    `batch ${summary.batch} completed: ${number(summary.jobs)} jobs (${summary.failed} failed) in ${summary.wallSeconds.toFixed(2)} s, ${summary.jobsPerSecond.toFixed(1)} jobs/s`,
  );
  say('jobs per worker:');
  for (const [worker, count] of Object.entries(summary.perWorker).sort()) {
    say(`  ${worker.padEnd(12)} ${String(count).padStart(6)}  ${'#'.repeat(Math.round((40 * count) / Math.max(1, summary.jobs)))}`);
  }
  const started = Date.now();
  const expected = countPrimesBelow(limit);
  const verified = answer?.primes === expected && summary.failed === 0;
  say(
    `answer: ${answer ? number(answer.primes) : 'none'} primes below ${number(limit)}; a sieve in this process says ${number(expected)} (${Date.now() - started} ms): ${verified ? 'VERIFIED' : 'MISMATCH'}`,
  );
  return verified;
}
