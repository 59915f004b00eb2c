import { Command, InvalidArgumentError } from 'commander';
import type { JobpipeClient } from '@jobpipe/intake';
import { redisAccess, withClient } from './admin-commands.js';
import { UsageError } from './usage-error.js';
import { addSettingOptions, configFrom } from './settings-options.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

/** A command on one pipeline's controls, by the pipeline's name. */
function pipelineCommand(name: string, description: string): Command {
  return addSettingOptions(new Command(name).description(description).argument('<pipeline>', "the pipeline's name"), redisAccess);
}

/** Refuses a pipeline nobody has named (a typo would set controls that act on nothing). */
async function knownPipeline(client: JobpipeClient, pipeline: string): Promise<void> {
  if (!(await client.knowsPipeline(pipeline))) throw new UsageError(`pipeline ${pipeline} is unknown: nothing was submitted to it and no ventilator serves it`);
}

/** `jobpipe pause <pipeline>`: its ventilators send no job until `jobpipe resume`. */
export function pauseCommand(): Command {
  const command = pipelineCommand(
    'pause',
    'pause a pipeline: its ventilators send no job (jobs out run on; batches and jobs are still taken in) until jobpipe resume',
  );
  command.action(async (pipeline: string) => {
    await withClient(configFrom(command, redisAccess), async (client) => {
      await knownPipeline(client, pipeline);
      await client.pause(pipeline);
    });
    say(`paused ${pipeline}`);
  });
  return command;
}

export function resumeCommand(): Command {
  const command = pipelineCommand('resume', 'resume a paused pipeline');
  command.action(async (pipeline: string) => {
    await withClient(configFrom(command, redisAccess), async (client) => {
      await knownPipeline(client, pipeline);
      await client.resume(pipeline);
    });
    say(`resumed ${pipeline}`);
  });
  return command;
}

/** `jobpipe cancel <batch>`, `jobpipe cancel --job <id>`: what was not done of it never runs, and what runs is stopped. */
export function cancelCommand(): Command {
  const command = addSettingOptions(
    new Command('cancel')
      .description(
        'cancel a batch, or with --job one job: jobs not sent are never sent, running handlers are aborted, nothing more of it is recorded (what was, stays); exit code 1 when it had ended already',
      )
      .argument('<id>', 'the batch id, or with --job a job id (what add printed, or <batch>:<seq>)')
      .option('--job', 'cancel one job, not a batch'),
    redisAccess,
  );
  command.action(async (id: string) => {
    const { job } = command.opts<{ job?: boolean }>();
    await withClient(configFrom(command, redisAccess), async (client) => {
      let cancelled: boolean;
      if (job) cancelled = await client.cancelJob(id);
      else {
        const batch = await client.find(id);
        if (!batch) throw new UsageError(`batch ${id} is unknown`);
        cancelled = await client.cancel(batch.pipeline, id);
      }
      const what = `${job ? 'job' : 'batch'} ${id}`;
      if (cancelled) return say(`cancelled ${what}`);
      say(`${what} had ended already: nothing cancelled`);
      process.exitCode = 1;
    });
  });
  return command;
}

/** `jobpipe limit <pipeline> [rate]`: a rate limit over all its ventilators, or what it is. */
export function limitCommand(): Command {
  const command = pipelineCommand(
    'limit',
    "limit the jobs a pipeline's ventilators send per second, all together ('off': no limit; 'default': each ventilator's JOBPIPE_RATE_LIMIT); without a rate, show it",
  ).argument('[rate]', "jobs per second, 'off' or 'default'", rateArgument);
  command.action(async (pipeline: string, rate: number | 'default' | undefined) => {
    await withClient(configFrom(command, redisAccess), async (client) => {
      await knownPipeline(client, pipeline);
      if (rate !== undefined) await client.setRateLimit(pipeline, rate === 'default' ? undefined : rate);
      const { paused, rateLimit } = await client.controls(pipeline);
      const limit = rateLimit === undefined ? "each ventilator's JOBPIPE_RATE_LIMIT" : rateLimit === 0 ? 'none' : `${rateLimit} jobs/s`;
      say(`${pipeline}: rate limit ${limit}${paused ? ', paused' : ''}`);
    });
  });
  return command;
}

function rateArgument(raw: string): number | 'default' {
  if (raw === 'off') return 0;
  if (raw === 'default') return 'default';
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value > 10_000_000) throw new InvalidArgumentError("expected jobs per second (a whole number), 'off' or 'default'");
  return value;
}
