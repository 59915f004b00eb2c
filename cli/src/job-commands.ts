import { Command, Option } from 'commander';
import { common, duration, json, nonEmpty, setting } from '@jobpipe/config';
import type { JobpipeClient, JobReport } from '@jobpipe/intake';
import { onePipeline, QUEUED_NOTICE_SECONDS, redisAccess, seconds, submitSettings, withClient } from './admin-commands.js';
import { addSettingOptions, configFrom } from './settings-options.js';
import { UsageError } from './usage-error.js';

export const addSettings = {
  pipeline: onePipeline,
  ...redisAccess,
  payload: setting({ env: 'JOBPIPE_PAYLOAD', flag: 'payload', description: "the job's payload, as JSON: what its handler gets", parse: json }),
  jobId: setting<string | undefined>({
    env: 'JOBPIPE_JOB_ID',
    flag: 'job-id',
    description: 'an idempotency key: a job added again with the same key (within a day) is not added twice',
    default: undefined,
    defaultText: '(none: every add is a new job)',
    parse: nonEmpty,
  }),
  priority: submitSettings.priority,
  delay: setting<number | undefined>({
    env: 'JOBPIPE_DELAY',
    flag: 'delay',
    description: 'run the job no earlier than this from now: 90s, 30m, 24h, 7d or ms',
    default: undefined,
    defaultText: '(none: at once)',
    parse: duration(0, 365 * 86_400_000),
  }),
};

const say = (line: string) => process.stdout.write(`${line}\n`);

/** One line for a job's report: `<id>  <pipeline>  <state>[  value|error]`. */
function describe(job: JobReport): string {
  const detail = job.state === 'done' ? `  ${JSON.stringify(job.value)}` : job.error ? `  ${job.error.name}: ${job.error.message}` : '';
  return `${job.id}  ${job.pipeline}  ${job.state}${detail}`;
}

/**
 * Says on stderr why a job is still queued, if it is: behind other work of its pipeline, or no
 * ventilator of it runs against this Redis (as submit --wait says of a batch).
 */
async function jobQueuedNotice(client: JobpipeClient, id: string, pipeline: string, noticeSeconds: number, redis: string): Promise<void> {
  const job = await client.getJob(id).catch(() => undefined);
  if (job?.state !== 'queued') return;
  const serving = await client.ventilatorsServing(pipeline).catch(() => 1);
  process.stderr.write(
    serving > 0
      ? `jobpipe: job ${id} is still queued after ${noticeSeconds} s, behind other work of pipeline ${pipeline}; still waiting\n`
      : `jobpipe: no ventilator has taken job ${id} after ${noticeSeconds} s: it needs a ventilator for pipeline ${pipeline} running with the same ` +
          `${common.redisUrl.env} (${redis}) and ${common.redisPrefix.env} (${client.prefix}). Still waiting\n`,
  );
}

/** `jobpipe add`: one single job on a pipeline's job stream; prints its id, or with --wait its outcome. */
export function addCommand(): Command {
  const command = addSettingOptions(
    new Command('add').description('add one single job to a pipeline (a ventilator of it runs it beside any batches)'),
    addSettings,
  )
    .option('--wait', 'wait for the job to be done or to fail, and print its outcome (exit code 1 when it failed)')
    .option('--json', 'print JSON: the job id, or with --wait its report')
    .addOption(
      new Option('--queued-notice <seconds>', 'with --wait: after this many seconds with the job still queued, say what it waits for')
        .argParser(seconds)
        .default(QUEUED_NOTICE_SECONDS),
    );
  command.action(async () => {
    const config = configFrom(command, addSettings);
    const { wait, json: asJson, queuedNotice: noticeSeconds } = command.opts<{ wait?: boolean; json?: boolean; queuedNotice: number }>();
    const { loadPipeline } = await import('@jobpipe/pipeline');
    const pipeline = await loadPipeline(config.pipeline);
    await withClient(config, async (client, connection) => {
      const id = await client.add(pipeline, config.payload, {
        ...(config.jobId === undefined ? {} : { jobId: config.jobId }),
        ...(config.priority === undefined ? {} : { priority: config.priority }),
        ...(config.delay === undefined ? {} : { delayMs: config.delay }),
      });
      if (!wait) return say(asJson ? JSON.stringify({ id }) : id);
      // A job due later is not waiting for a ventilator yet: the notice counts from when it is due.
      const notice = setTimeout(
        () => void jobQueuedNotice(client, id, pipeline.name, noticeSeconds, connection.display),
        (config.delay ?? 0) + noticeSeconds * 1000,
      );
      const job = await client.waitForJob(id).finally(() => clearTimeout(notice));
      say(asJson ? JSON.stringify(job) : describe(job));
      if (job.state === 'failed') process.exitCode = 1;
    });
  });
  return command;
}

/** `jobpipe job <id>`: where a single job stands. */
export function jobCommand(): Command {
  const command = addSettingOptions(
    new Command('job')
      .description('show where a single job stands: queued, running, done with its value, or failed with its error')
      .argument('<id>', 'the id that add printed, or <batch>:<seq> for a job of a batch'),
    redisAccess,
  ).option('--json', 'print the report as JSON');
  command.action(async (id: string) => {
    const config = configFrom(command, redisAccess);
    const { json: asJson } = command.opts<{ json?: boolean }>();
    await withClient(config, async (client) => {
      const job = await client.getJob(id);
      if (!job) throw new UsageError(`job ${id} is unknown, or its retention is over (a done job's keys stay for ${common.retention.env}, 24h by default)`);
      say(asJson ? JSON.stringify(job) : describe(job));
    });
  });
  return command;
}
