// A durable jobpipe stack for the batch benchmarks: a redis-server of its own (AOF on), the echo
// pipeline, a sink, a ventilator and `workers` workers, and a client of the same Redis.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobpipeClient } from '@jobpipe/intake';
import { BatchEvents, RedisServer, Stack } from '@jobpipe/launcher';
import { connectRedis } from '@jobpipe/ledger';
import { loadPipeline } from '@jobpipe/pipeline';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const echoPath = resolve(root, 'examples/echo/dist/pipeline.js');

/** `profile`: a directory where each role writes a V8 CPU profile when it stops (bench/profile-summary.mjs). */
export async function durableStack({ workers = 2, ventilatorEnv = {}, profile } = {}) {
  const redis = await RedisServer.start({ appendOnly: true });
  const prefix = `bench-${process.pid}`;
  const stack = await Stack.start({
    command: [process.execPath, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profile)}`] : []), resolve(root, 'cli/bin/jobpipe.js')],
    pipeline: echoPath,
    workers,
    env: { JOBPIPE_REDIS_URL: redis.url, JOBPIPE_REDIS_PREFIX: prefix, JOBPIPE_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' },
    ventilatorEnv,
  });
  const connection = connectRedis(redis.url);
  const client = new JobpipeClient(connection, prefix);
  const pipeline = await loadPipeline(echoPath);
  const events = new BatchEvents(stack.endpoints.eventsConnect);
  return {
    redis,
    stack,
    client,
    pipeline,
    events,
    prefix,
    async stop() {
      await events.close();
      await client.close();
      connection.disconnect();
      await stack.stop();
      await redis.stop();
    },
  };
}

/** The named options as whole numbers >= 1; a bad one is one line on stderr and exit code 2. */
export function wholeNumbers(args, names) {
  return names.map((name) => {
    const value = Number(args[name]);
    if (!Number.isInteger(value) || value < 1) {
      process.stderr.write(`--${name} must be a whole number >= 1\n`);
      process.exit(2);
    }
    return value;
  });
}
