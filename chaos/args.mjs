/** Command-line flags of the chaos harness (node:util parseArgs), checked with one clear line each. */
import { parseArgs } from 'node:util';

export const usage = `usage: npm run chaos -- [flags]      (or: node chaos/run.mjs [flags], after npm run build)

Runs, at the same time, one big echo batch, several smaller batches submitted while it runs and a
steady stream of single jobs (JobpipeClient.add, one call each), all on one redis-server and stack
of OS processes of its own; SIGKILLs workers over and over and the ventilator and the sink once
each, and makes each of the --faults of Redis happen once; then checks in Redis that every job of
every batch and bucket has exactly one recorded result, and every single job its own value.

  --jobs N              jobs in the big batch (default 50000)
  --batches N           smaller batches submitted during the run, some with a priority (default 5)
  --batch-jobs N        jobs in a smaller batch, at most; each has N/4 to N (default 2000)
  --single-jobs N       single jobs added during the run, one add call each (default 3000); one in
                        25 has an idempotency key, which is given again later with another payload
  --workers N           worker processes (default 3)
  --pipelines N         1 (default): everything on the echo pipeline. 2: the ventilator and the sink
                        serve echo and tally (chaos/tally-pipeline.mjs, job i answers 3i+1); the
                        workers form two pools, half serving echo only, half tally only (an odd
                        one out serves both); the big batch and the single jobs are echo's, the
                        smaller batches alternate tally and echo, the worker kills take the
                        pools in turn, and every check holds per pipeline, with no job recorded
                        by a worker that does not serve its pipeline
  --work-ms X           echo's (and tally's) simulated work per job, in ms: it sets the pace (default 2)
  --payload-bytes N     about how large each job of the batches is (default 100; the single jobs stay small)
  --concurrency N       handlers per worker, JOBPIPE_CONCURRENCY (default 1)
  --kill-every-ms N     a worker is SIGKILLed every N ms on average (uniform in [N/2, 3N/2]; default 2000)
  --redis-down-ms N     how long Redis stays down after its SIGKILL (default 1000)
  --faults LIST         the Redis faults, each once per run, comma-separated (default kill):
                          kill      Redis SIGKILLed, restarted from its AOF (loses nothing)
                          snapshot  Redis restored from a snapshot taken 3 s before: it loses
                                    those seconds of acknowledged writes
                          failover  the stack runs on a master, a replica and 3 Sentinels; the
                                    replica is paused 2 s, the master SIGKILLed, the replica
                                    promoted without those seconds (failover goes alone)
                        with snapshot or failover: JOBPIPE_REPAIR_CHECK_MS=1000, and single jobs
                        added while Redis was losing writes may be lost (docs/durability.md):
                        counted apart, not as failures
  --lease-ms N          JOBPIPE_LEASE_MS (default 3000)
  --seed N              seed of the random choices (default: from the clock; printed)
  --timeout-s N         give up when the jobs are not all done after this long (default 300)
  --log-level LEVEL     JOBPIPE_LOG_LEVEL of every process (default warn)
  --json FILE           write the result as JSON to FILE
  --logs DIR            always write every process's log to DIR (on failure they go to a new temp dir anyway)
  -h, --help            this text

Exit code 0 only when nothing was lost, nothing was recorded twice, nothing was dead-lettered, every
single job has its own value (but those --faults may lose), and every kind of kill and fault was done;
with --pipelines 2, that in each pipeline, with every batch's answer right, no job recorded by a
worker that does not serve its pipeline, and a worker of each pipeline's pool killed.`;

const positiveInt =
  (name, min = 1) =>
  (raw) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    return value;
  };
const nonNegative = (name) => (raw) => {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new UsageError(`--${name} must be a number >= 0, got ${JSON.stringify(raw)}`);
  return value;
};
/** The Redis fault kinds, in the order a run does them (see --faults). */
export const FAULT_KINDS = ['failover', 'snapshot', 'kill'];
const faultList = (raw) => {
  const kinds = raw.split(',').map((kind) => kind.trim());
  for (const kind of kinds)
    if (!FAULT_KINDS.includes(kind)) throw new UsageError(`--faults takes a comma-separated list of ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  if (new Set(kinds).size !== kinds.length) throw new UsageError(`--faults names a kind twice: ${JSON.stringify(raw)}`);
  if (kinds.includes('failover') && kinds.length > 1)
    throw new UsageError(
      '--faults: failover goes alone (with it, the kill of Redis is the failover itself; and a restore from a snapshot would restart the promoted replica as a replica)',
    );
  return FAULT_KINDS.filter((kind) => kinds.includes(kind));
};
const oneOfInts = (name, values) => (raw) => {
  const value = Number(raw);
  if (!values.includes(value) || String(value) !== raw.trim())
    throw new UsageError(`--${name} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
  return value;
};
const oneOf = (name, values) => (raw) => {
  if (!values.includes(raw)) throw new UsageError(`--${name} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw;
};

export class UsageError extends Error {
  name = 'UsageError';
}

const spec = {
  jobs: { parse: positiveInt('jobs'), default: 50_000 },
  batches: { parse: positiveInt('batches', 0), default: 5 },
  'batch-jobs': { parse: positiveInt('batch-jobs', 4), default: 2000 },
  'single-jobs': { parse: positiveInt('single-jobs', 0), default: 3000 },
  workers: { parse: positiveInt('workers', 2), default: 3 },
  pipelines: { parse: oneOfInts('pipelines', [1, 2]), default: 1 },
  'work-ms': { parse: nonNegative('work-ms'), default: 2 },
  'payload-bytes': { parse: positiveInt('payload-bytes', 0), default: 100 },
  concurrency: { parse: positiveInt('concurrency'), default: 1 },
  'kill-every-ms': { parse: positiveInt('kill-every-ms', 100), default: 2000 },
  'redis-down-ms': { parse: nonNegative('redis-down-ms'), default: 1000 },
  faults: { parse: faultList, default: ['kill'] },
  'lease-ms': { parse: positiveInt('lease-ms', 100), default: 3000 },
  seed: { parse: positiveInt('seed', 0), default: undefined },
  'timeout-s': { parse: positiveInt('timeout-s'), default: 300 },
  'log-level': { parse: oneOf('log-level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), default: 'warn' },
  json: { parse: (raw) => raw, default: undefined },
  logs: { parse: (raw) => raw, default: undefined },
};

/** Parses argv into { jobs, workers, workMs, ... } (camelCase); throws UsageError on a bad flag. */
export function parseChaosArgs(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(Object.keys(spec).map((name) => [name, { type: 'string' }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(error.message);
  }
  if (parsed.values.help) return { help: true };
  const options = {};
  for (const [name, { parse, default: fallback }] of Object.entries(spec)) {
    const raw = parsed.values[name];
    options[name.replace(/-([a-z])/g, (_, letter) => letter.toUpperCase())] = raw === undefined ? fallback : parse(raw);
  }
  return options;
}
