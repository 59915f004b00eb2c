import { Command, InvalidArgumentError, Option } from 'commander';
import {
  checkSetting,
  common,
  existingFile,
  integer,
  json,
  nonEmpty,
  redisConnectionFrom,
  redisSettings,
  setting,
  type RedisConfig,
  type RedisConnectionSettings,
  type Setting,
} from '@jobpipe/config';
import type { BatchStatusReport, JobpipeClient } from '@jobpipe/intake';
import type { BatchSummary } from '@jobpipe/protocol';
import { addSettingOptions, configFrom } from './settings-options.js';
import { UsageError } from './usage-error.js';

/** The same setting, but required. */
function required<T>(spec: Setting<T | undefined>, description: string): Setting<T> {
  const { default: _default, defaultText: _text, ...rest } = spec;
  return { ...rest, description } as Setting<T>;
}

export const redisAccess = {
  redisUrl: required<string>(common.redisUrl, 'the Redis that the pipeline uses (redis:// or rediss://)'),
  ...redisSettings,
  redisPrefix: common.redisPrefix,
};

/** The one pipeline module a producer submits to (a role's JOBPIPE_PIPELINE may list several). */
export const onePipeline = setting({
  ...common.pipeline,
  description: 'path of the pipeline module to submit to (one module; the roles may serve several)',
  parse: (raw: string) => {
    if (raw.includes(',')) throw new Error(`"${raw}" names several modules: give the one pipeline to submit to`);
    return existingFile(raw);
  },
});

export const submitSettings = {
  pipeline: onePipeline,
  ...redisAccess,
  input: setting({ env: 'JOBPIPE_INPUT', flag: 'input', description: "the batch's input, as JSON", parse: json }),
  batchId: setting<string | undefined>({
    env: 'JOBPIPE_BATCH_ID',
    flag: 'batch-id',
    description: 'id of the batch',
    default: undefined,
    defaultText: '`<pipeline>-<time>-<random>`',
    parse: nonEmpty,
  }),
  priority: setting<number | undefined>({
    env: 'JOBPIPE_PRIORITY',
    flag: 'priority',
    description: 'priority, 1 the highest; a batch or job without one comes after every one with one',
    default: undefined,
    parse: integer(1, 2_097_151),
  }),
  retention: setting<number | undefined>({
    ...common.retention,
    description: "how long this batch's keys (summary, results) stay in Redis once it is done: 90s, 30m, 24h, 7d or ms; 0 keeps them forever",
    default: undefined,
    defaultText: "the sink's",
  }),
  deadRetention: setting<number | undefined>({
    ...common.deadRetention,
    description: 'how long this batch stays once done if it has dead letters, if longer than its retention; 0 keeps it forever',
    default: undefined,
    defaultText: "the sink's",
  }),
  // TRACEPARENT, not JOBPIPE_: the name OpenTelemetry gives the trace context a parent process hands its children (a CI job's, say).
  traceparent: setting<string | undefined>({
    env: 'TRACEPARENT',
    flag: 'traceparent',
    description:
      "the W3C trace context to run the batch in (00-<trace id>-<span id>-<flags>): its jobs' spans join that trace when the roles trace (OTEL_EXPORTER_OTLP_ENDPOINT)",
    default: undefined,
    parse: (raw: string) => {
      if (!/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(raw.trim())) throw new Error(`"${raw}" is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)`);
      return raw.trim();
    },
  }),
};

/** How long a command tries to reach Redis before it gives up: someone is waiting for an answer. */
const REDIS_DEADLINE_MS = 5000;
/** Between tries. Over TLS a refused client certificate often shows as a reset connection, and only some tries get to read the server's alert: enough tries see one. */
const REDIS_RETRY_MS = 100;

/**
 * A client for one command; gives up when Redis does not answer for REDIS_DEADLINE_MS (at start,
 * or later), rather than waiting as a role does: a RedisUnreachableError. Credentials Redis
 * refuses, or a certificate that fails verification, are a RedisRefusedError at once. Both are
 * ConfigErrors (one line, exit code 2) naming the Redis, never its password.
 */
export async function withClient<T>(
  config: RedisConfig & { redisUrl: string; redisPrefix: string },
  use: (client: JobpipeClient, connection: RedisConnectionSettings) => Promise<T>,
): Promise<T> {
  const connection = redisConnectionFrom(config)!;
  // Loaded here, not at start: BullMQ and ioredis cost every other command half a second.
  const { JobpipeClient } = await import('@jobpipe/intake');
  const { connectFrom, describeRedisError, isRedisRefusal, RedisRefusedError, RedisUnreachableError, redisErrorReason } = await import('@jobpipe/ledger');
  const retry = () => REDIS_RETRY_MS;
  // A server, a Sentinel master or a Redis Cluster (JOBPIPE_REDIS_CLUSTER), as the roles connect.
  const redis = connectFrom(connection, { retryStrategy: retry, sentinelRetryStrategy: retry, connectTimeout: REDIS_DEADLINE_MS / 2 });
  let lastError: Error | undefined;
  let deadline: NodeJS.Timeout | undefined;
  let finished = false;
  // Settles at the first refusal (a wrong password is not worth more tries), or at the deadline.
  const failed = new Promise<never>((_, reject) => {
    const startDeadline = () => {
      if (finished || deadline) return;
      deadline = setTimeout(
        () =>
          reject(
            Object.assign(new RedisUnreachableError(connection.display, lastError ? redisErrorReason(lastError) : 'no answer', REDIS_DEADLINE_MS, connection), {
              cause: lastError,
            }),
          ),
        REDIS_DEADLINE_MS,
      );
    };
    startDeadline();
    redis.on('ready', () => {
      clearTimeout(deadline);
      deadline = undefined;
    });
    redis.on('close', startDeadline);
    redis.on('error', (error: Error) => {
      lastError = error;
      if (isRedisRefusal(error)) reject(Object.assign(new RedisRefusedError(connection.display, describeRedisError(error)), { cause: error }));
    });
  });
  failed.catch(() => {});
  const client = new JobpipeClient(redis, config.redisPrefix);
  try {
    return await Promise.race([use(client, connection), failed]);
  } catch (error) {
    // A refusal can come as a command's reply too (NOPERM for a key or command).
    if (isRedisRefusal(error)) throw Object.assign(new RedisRefusedError(connection.display, describeRedisError(error)), { cause: error });
    throw error;
  } finally {
    finished = true;
    clearTimeout(deadline);
    redis.disconnect();
    await client.close().catch(() => {});
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`);

function describe(report: BatchStatusReport): string {
  const progress = report.total === null ? `${report.done} done` : `${report.done}/${report.total}`;
  const failed = report.failed > 0 ? `, ${report.failed} failed` : '';
  // Cancelled jobs count as done (they are over), so the line says how many of them there are;
  // a batch cancelled while it was queued had none left to cancel, and still says it was.
  const cancelled = report.cancelled > 0 ? `, ${report.cancelled} cancelled` : report.cancelledAt !== null ? ', batch cancelled' : '';
  const summary = report.summary ? `, ${report.summary.wallSeconds.toFixed(2)} s, answer ${JSON.stringify(report.summary.answer)}` : '';
  const error = report.error ? `: ${report.error}` : '';
  return `${report.batch}  ${report.pipeline}  ${report.state}  ${progress}${failed}${cancelled}${summary}${error}`;
}

function progressBar(report: BatchStatusReport): string {
  if (report.total === null) return `${report.batch}  ${report.state}  ${report.done} done, splitting`;
  const fraction = report.total === 0 ? 1 : report.done / report.total;
  const width = 30;
  const filled = Math.round(fraction * width);
  const failed = report.failed > 0 ? `  ${report.failed} failed` : '';
  const cancelled = report.cancelled > 0 ? `  ${report.cancelled} cancelled` : '';
  return `${report.batch}  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(100 * fraction).toFixed(1)}%  ${report.done}/${report.total}${failed}${cancelled}`;
}

/** With --wait, when stdout is not a terminal (a log, a pipe): one progress line this often at most, besides the first and the last. */
const PROGRESS_EVERY_MS = 5000;
/** With --wait: a batch or job still queued after this many seconds gets a line saying what it waits for (a ventilator that takes it). */
export const QUEUED_NOTICE_SECONDS = 10;

/**
 * Progress lines for a log or a pipe: the first at once, then the latest one every `everyMs` at
 * most (a changed line only), and at the end (`flush`) the last one if it is not out yet.
 */
export class ProgressLines {
  #printed: string | undefined;
  #printedAt = 0;
  #pending: string | undefined;

  constructor(
    private readonly print: (line: string) => void,
    private readonly everyMs = PROGRESS_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {}

  update(line: string): void {
    this.#pending = line === this.#printed ? undefined : line;
    if (this.#pending !== undefined && (this.#printed === undefined || this.now() - this.#printedAt >= this.everyMs)) this.flush();
  }

  flush(): void {
    if (this.#pending === undefined) return;
    this.print(this.#pending);
    this.#printed = this.#pending;
    this.#printedAt = this.now();
    this.#pending = undefined;
  }
}

/** One line on stderr beside the progress (`jobpipe: ...`), the terminal's progress bar cleared first and redrawn after. */
function notice(line: string, bar: string | undefined): void {
  if (bar !== undefined) process.stdout.write('\r\x1b[2K');
  process.stderr.write(`jobpipe: ${line}\n`);
  if (bar !== undefined) process.stdout.write(bar);
}

/** Why a batch is still queued: behind running batches, or no ventilator takes batches of its pipeline from this Redis. */
async function queuedNotice(client: JobpipeClient, pipeline: string, batch: string, seconds: number, redis: string): Promise<string> {
  const running = await client
    .queue(pipeline)
    .getActiveCount()
    .catch(() => 0);
  if (running > 0)
    return `batch ${batch} is still queued after ${seconds} s, behind ${running} running batch(es) of pipeline ${pipeline} (each ventilator runs up to JOBPIPE_MAX_OPEN_BATCHES at once); still waiting`;
  return (
    `no ventilator has taken batch ${batch} after ${seconds} s: it needs a ventilator for pipeline ${pipeline} running with the same ` +
    `${common.redisUrl.env} (${redis}) and ${common.redisPrefix.env} (${client.prefix}); roles started without ${common.redisUrl.env} never see submitted batches. Still waiting`
  );
}

export function submitCommand(): Command {
  const command = addSettingOptions(
    new Command('submit').description("queue a batch on its pipeline's durable intake (checked against the pipeline first)"),
    submitSettings,
  )
    .option('--wait', 'follow the batch to its end and print its summary')
    .option('--json', 'print JSON (the batch id, or with --wait the summary)')
    .addOption(
      new Option('--queued-notice <seconds>', 'with --wait: after this many seconds with the batch still queued, say what it waits for')
        .argParser(seconds)
        .default(QUEUED_NOTICE_SECONDS),
    );
  command.action(async () => {
    const config = configFrom(command, submitSettings);
    const { wait, json: asJson, queuedNotice: noticeSeconds } = command.opts<{ wait?: boolean; json?: boolean; queuedNotice: number }>();
    const { checkBatchId } = await import('@jobpipe/intake');
    if (config.batchId !== undefined) checkSetting(submitSettings.batchId, () => checkBatchId(config.batchId!));
    const { loadPipeline } = await import('@jobpipe/pipeline');
    const pipeline = await loadPipeline(config.pipeline);
    await withClient(config, async (client, connection) => {
      const options = {
        ...(config.batchId ? { batchId: config.batchId } : {}),
        ...(config.priority ? { priority: config.priority } : {}),
        ...(config.retention === undefined ? {} : { retentionMs: config.retention }),
        ...(config.deadRetention === undefined ? {} : { deadRetentionMs: config.deadRetention }),
        ...(config.traceparent === undefined ? {} : { traceparent: config.traceparent }),
      };
      // With OTEL_EXPORTER_OTLP_ENDPOINT set, the submission is a span of its own (service jobpipe-submit).
      const { startTracing, stopTracing } = await import('@jobpipe/observability');
      await startTracing('submit');
      if (!wait) {
        let batch: string;
        try {
          batch = await client.submit(pipeline, config.input, options);
        } finally {
          await stopTracing();
        }
        return say(asJson ? JSON.stringify({ batch }) : `submitted ${batch}`);
      }
      // Exported once submitted: the wait may be long.
      const submitted = stopTracing;
      let batch = '';
      let submittedAt = Date.now();
      // A bar redrawn in place on a terminal; otherwise (logs, pipes) a line every few seconds at most.
      const tty = process.stdout.isTTY === true && !asJson;
      let bar: string | undefined;
      const lines = new ProgressLines((line) => say(`  ${line}`));
      let noticed = false;
      const onProgress = (report: BatchStatusReport) => {
        if (!noticed && report.state === 'queued' && Date.now() - submittedAt >= noticeSeconds * 1000) {
          noticed = true;
          void queuedNotice(client, pipeline.name, batch, noticeSeconds, connection.display).then((line) => notice(line, bar));
        }
        if (asJson) return;
        if (!tty) return lines.update(describe(report));
        const line = progressBar(report);
        if (line !== bar) process.stdout.write(`\r\x1b[2K${line}`);
        bar = line;
      };
      const onSubmitted = (id: string, again: boolean) => {
        void submitted();
        batch = id;
        submittedAt = Date.now();
        if (again) notice(`Redis lost batch ${id} after it was submitted (a failover or a restart from an older snapshot): submitted it again`, bar);
        else if (!asJson) say(`submitted ${id}; waiting for it to finish`);
      };
      let summary: BatchSummary;
      try {
        ({ summary } = await client.submitAndWait(pipeline, config.input, options, { onSubmitted, onProgress }));
      } finally {
        if (tty) process.stdout.write('\n');
        lines.flush();
      }
      say(
        asJson
          ? JSON.stringify(summary)
          : `done: ${summary.jobs} jobs, ${summary.failed} failed${summary.cancelled ? `, ${summary.cancelled} cancelled` : ''}, ${summary.wallSeconds.toFixed(2)} s, answer ${JSON.stringify(summary.answer)}`,
      );
    });
  });
  return command;
}

export function statusCommand(): Command {
  const command = addSettingOptions(
    new Command('status').description('show batches: queued, running with progress, done with summary, failed').argument('[batch]', 'one batch'),
    redisAccess,
  )
    .option('--json', 'print JSON')
    .addOption(new Option('--limit <n>', 'how many batches to list').argParser(count).default(20));
  command.action(async (batch: string | undefined) => {
    const config = configFrom(command, redisAccess);
    const { json: asJson, limit } = command.opts<{ json?: boolean; limit: number }>();
    await withClient(config, async (client) => {
      // One more than asked for, to tell a list cut short from a whole one.
      const reports = batch ? [await client.find(batch)].filter((r) => r !== undefined) : await client.list(limit + 1);
      if (batch && reports.length === 0) throw new UsageError(`batch ${batch} is unknown`);
      if (reports.length > limit) {
        reports.length = limit;
        process.stderr.write(`jobpipe: the newest ${limit} batches; there are more (--limit ${Math.min(limit * 2, 100_000)} shows more)\n`);
      }
      if (asJson) say(JSON.stringify(batch ? reports[0] : reports, null, 2));
      else if (reports.length === 0) say('no batches');
      else for (const report of reports) say(describe(report));
    });
  });
  return command;
}

export function deadCommand(): Command {
  const dead = new Command('dead').description('dead letters: jobs that ran out of attempts, kept with their last error');
  const list = addSettingOptions(
    new Command('list')
      .description('list dead letters with their attempts and last error')
      .argument('[batch]', 'one batch (default: every batch with dead letters)'),
    redisAccess,
  ).option('--json', 'print JSON');
  list.action(async (batch: string | undefined) => {
    const config = configFrom(list, redisAccess);
    await withClient(config, async (client) => {
      if (batch && !(await client.ledger.batchInfo(batch))) throw new UsageError(`batch ${batch} is unknown`);
      const batches = batch ? [batch] : await client.ledger.listBatches(1000);
      const letters = [];
      for (const id of batches) letters.push(...(await client.ledger.listDead(id)));
      if (list.opts<{ json?: boolean }>().json) return say(JSON.stringify(letters, null, 2));
      if (letters.length === 0) return say('no dead letters');
      for (const letter of letters)
        say(`${letter.batch}:${letter.seq}  attempts ${letter.attempts}  ${letter.error?.name ?? 'Error'}: ${letter.error?.message ?? ''}`);
    });
  });
  dead.addCommand(list);
  for (const [name, verb] of [
    ['retry', 'send dead letters round again'],
    ['purge', 'forget dead letters for good'],
  ] as const) {
    const sub = addSettingOptions(
      new Command(name).description(verb).argument('<batch>', 'the batch').argument('[seqs...]', 'job sequence numbers (default: all of the batch)'),
      redisAccess,
    );
    sub.action(async (batch: string, seqs: string[]) => {
      const config = configFrom(sub, redisAccess);
      const numbers = seqs.map((seq) => {
        if (!/^\d+$/.test(seq)) throw new UsageError(`"${seq}" is not a job sequence number`);
        return Number(seq);
      });
      await withClient(config, async (client) => {
        const info = await client.ledger.batchInfo(batch);
        if (!info) throw new UsageError(`batch ${batch} is unknown`);
        const count = name === 'retry' ? await client.ledger.retryDead(batch, info.pipeline, numbers) : await client.ledger.purgeDead(batch, numbers);
        say(`${name === 'retry' ? 'sent round again' : 'purged'}: ${count} dead letter(s) of ${batch}`);
      });
    });
    dead.addCommand(sub);
  }
  return dead;
}

/** A whole number of seconds, for an option. */
export function seconds(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value > 86_400) throw new InvalidArgumentError('expected whole seconds, 0 to 86400');
  return value;
}

/** A count from 1, for an option. */
function count(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < 1 || value > 100_000) throw new InvalidArgumentError('expected a whole number, 1 to 100000');
  return value;
}
