import { Command } from 'commander';
import { common, ConfigError, integer, json, nonEmpty, redisConnectionFrom, redisSettings, setting, type RedisConfig, type Setting } from '@jobpipe/config';
import type { BatchStatusReport, JobpipeClient } from '@jobpipe/intake';
import type { BatchSummary } from '@jobpipe/protocol';
import { addSettingOptions, configFrom } from './settings-options.js';

/** The same setting, but required. */
function required<T>(spec: Setting<T | undefined>, description: string): Setting<T> {
  const { default: _default, defaultText: _text, ...rest } = spec;
  return { ...rest, description } as Setting<T>;
}

const redisAccess = {
  redisUrl: required<string>(common.redisUrl, 'the Redis that the pipeline uses (redis:// or rediss://)'),
  ...redisSettings,
  redisPrefix: common.redisPrefix,
};

export const submitSettings = {
  pipeline: common.pipeline,
  ...redisAccess,
  input: setting({ env: 'JOBPIPE_INPUT', flag: 'input', description: "the batch's input, as JSON", parse: json }),
  batchId: setting<string | undefined>({ env: 'JOBPIPE_BATCH_ID', flag: 'batch-id', description: 'id of the batch', default: undefined, defaultText: '`<pipeline>-<time>-<random>`', parse: nonEmpty }),
  priority: setting<number | undefined>({ env: 'JOBPIPE_PRIORITY', flag: 'priority', description: 'BullMQ priority, 1 the highest', default: undefined, parse: integer(1, 2_097_152) }),
};

/**
 * A client for one command; fails fast when Redis does not answer, rather than waiting as a role
 * does. Credentials Redis refuses, or a certificate that fails verification, are a ConfigError
 * (one line, exit code 2) naming the Redis, never its password.
 */
async function withClient<T>(config: RedisConfig & { redisUrl: string; redisPrefix: string }, use: (client: JobpipeClient) => Promise<T>): Promise<T> {
  const connection = redisConnectionFrom(config)!;
  // Loaded here, not at start: BullMQ and ioredis cost every other command half a second.
  const { JobpipeClient } = await import('@jobpipe/intake');
  const { connectRedis, describeRedisError, isRedisRefusal, redisOptionsFrom } = await import('@jobpipe/ledger');
  // About 2 s of tries before giving up. Over TLS a refused client certificate often shows as a
  // reset connection, and only some tries get to read the server's alert: enough tries see one.
  const giveUp = (attempt: number) => (attempt > 20 ? null : 100);
  const redis = connectRedis(redisOptionsFrom(connection), { retryStrategy: giveUp, sentinelRetryStrategy: giveUp, maxRetriesPerRequest: 20 });
  let lastError: Error | undefined;
  // Settles at the first refusal: a wrong password or certificate is not worth the other tries.
  const refused = new Promise<never>((_, reject) =>
    redis.on('error', (error: Error) => {
      lastError = error;
      if (isRedisRefusal(error)) reject(error);
    }),
  );
  refused.catch(() => {});
  const client = new JobpipeClient(redis, config.redisPrefix);
  try {
    return await Promise.race([use(client), refused]);
  } catch (error) {
    if (isRedisRefusal(error)) throw new ConfigError('JOBPIPE_REDIS_URL', 'redis-url', `Redis at ${connection.display} refused the connection: ${describeRedisError(error)}`);
    if (lastError && redis.status !== 'ready') throw new Error(`cannot reach Redis at ${connection.display}: ${describeRedisError(lastError)}`, { cause: error });
    throw error;
  } finally {
    await client.close().catch(() => {});
    redis.disconnect();
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`);

function describe(report: BatchStatusReport): string {
  const progress = report.total === null ? `${report.done} done` : `${report.done}/${report.total}`;
  const failed = report.failed > 0 ? `, ${report.failed} failed` : '';
  const summary = report.summary ? `, ${report.summary.wallSeconds.toFixed(2)} s, answer ${JSON.stringify(report.summary.answer)}` : '';
  const error = report.error ? `: ${report.error}` : '';
  return `${report.batch}  ${report.pipeline}  ${report.state}  ${progress}${failed}${summary}${error}`;
}

function progressBar(report: BatchStatusReport): string {
  if (report.total === null) return `${report.batch}  ${report.state}  ${report.done} done, splitting`;
  const fraction = report.total === 0 ? 1 : report.done / report.total;
  const width = 30;
  const filled = Math.round(fraction * width);
  const failed = report.failed > 0 ? `  ${report.failed} failed` : '';
  return `${report.batch}  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(100 * fraction).toFixed(1)}%  ${report.done}/${report.total}${failed}`;
}

export function submitCommand(): Command {
  const command = addSettingOptions(new Command('submit').description("queue a batch on its pipeline's durable intake (checked against the pipeline first)"), submitSettings)
    .option('--wait', 'follow the batch to its end and print its summary')
    .option('--json', 'print JSON (the batch id, or with --wait the summary)');
  command.action(async () => {
    const config = configFrom(command, submitSettings);
    const { wait, json: asJson } = command.opts<{ wait?: boolean; json?: boolean }>();
    const { loadPipeline } = await import('@jobpipe/pipeline');
    const pipeline = await loadPipeline(config.pipeline);
    await withClient(config, async (client) => {
      const batch = await client.submit(pipeline, config.input, { ...(config.batchId ? { batchId: config.batchId } : {}), ...(config.priority ? { priority: config.priority } : {}) });
      if (!wait) return say(asJson ? JSON.stringify({ batch }) : `submitted ${batch}`);
      if (!asJson) say(`submitted ${batch}; waiting for it to finish`);
      const tty = process.stdout.isTTY === true && !asJson;
      let last = '';
      const summary: BatchSummary = await client.waitForBatch(pipeline.name, batch, (report) => {
        // A bar redrawn in place on a terminal; one line per change otherwise (logs, pipes).
        const line = tty ? progressBar(report) : describe(report);
        if (asJson || line === last) return;
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else say(`  ${line}`);
        last = line;
      });
      if (tty) process.stdout.write('\n');
      say(asJson ? JSON.stringify(summary) : `done: ${summary.jobs} jobs, ${summary.failed} failed, ${summary.wallSeconds.toFixed(2)} s, answer ${JSON.stringify(summary.answer)}`);
    });
  });
  return command;
}

export function statusCommand(): Command {
  const command = addSettingOptions(new Command('status').description('show batches: queued, running with progress, done with summary, failed').argument('[batch]', 'one batch'), redisAccess)
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many batches to list', '20');
  command.action(async (batch: string | undefined) => {
    const config = configFrom(command, redisAccess);
    const { json: asJson, limit } = command.opts<{ json?: boolean; limit: string }>();
    await withClient(config, async (client) => {
      const reports = batch ? [await client.find(batch)].filter((r) => r !== undefined) : await client.list(Number(limit) || 20);
      if (batch && reports.length === 0) throw usageError(`batch ${batch} is unknown`);
      if (asJson) say(JSON.stringify(batch ? reports[0] : reports, null, 2));
      else if (reports.length === 0) say('no batches');
      else for (const report of reports) say(describe(report));
    });
  });
  return command;
}

export function deadCommand(): Command {
  const dead = new Command('dead').description('dead letters: jobs that ran out of attempts, kept with their last error');
  const list = addSettingOptions(new Command('list').argument('[batch]', 'one batch (default: every batch with dead letters)'), redisAccess).option('--json', 'print JSON');
  list.action(async (batch: string | undefined) => {
    const config = configFrom(list, redisAccess);
    await withClient(config, async (client) => {
      const batches = batch ? [batch] : await client.ledger.listBatches(1000);
      const letters = [];
      for (const id of batches) letters.push(...(await client.ledger.listDead(id)));
      if (list.opts<{ json?: boolean }>().json) return say(JSON.stringify(letters, null, 2));
      if (letters.length === 0) return say('no dead letters');
      for (const letter of letters) say(`${letter.batch}:${letter.seq}  attempts ${letter.attempts}  ${letter.error?.name ?? 'Error'}: ${letter.error?.message ?? ''}`);
    });
  });
  for (const [name, verb] of [['retry', 'send dead letters round again'], ['purge', 'forget dead letters for good']] as const) {
    const sub = addSettingOptions(new Command(name).description(verb).argument('<batch>', 'the batch').argument('[seqs...]', 'job sequence numbers (default: all of the batch)'), redisAccess);
    sub.action(async (batch: string, seqs: string[]) => {
      const config = configFrom(sub, redisAccess);
      const numbers = seqs.map((seq) => {
        if (!/^\d+$/.test(seq)) throw usageError(`"${seq}" is not a job sequence number`);
        return Number(seq);
      });
      await withClient(config, async (client) => {
        const info = await client.ledger.batchInfo(batch);
        if (!info) throw usageError(`batch ${batch} is unknown`);
        const count = name === 'retry' ? await client.ledger.retryDead(batch, info.pipeline, numbers) : await client.ledger.purgeDead(batch, numbers);
        say(`${name === 'retry' ? 'sent round again' : 'purged'}: ${count} dead letter(s) of ${batch}`);
      });
    });
    dead.addCommand(sub);
  }
  dead.addCommand(list);
  return dead;
}


/** An error the CLI reports in one line with exit code 2 (it goes by the name SubmissionError). */
function usageError(message: string): Error {
  const error = new Error(message);
  error.name = 'SubmissionError';
  return error;
}
