import { Command, InvalidArgumentError } from 'commander';
import { redisAccess, withClient } from './admin-commands.js';
import { addSettingOptions, configFrom } from './settings-options.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

/** A command on one pipeline's controls, by the pipeline's name. */
function pipelineCommand(name: string, description: string): Command {
  return addSettingOptions(new Command(name).description(description).argument('<pipeline>', "the pipeline's name"), redisAccess);
}

/** `jobpipe pause <pipeline>`: its ventilators send no job until `jobpipe resume`. */
export function pauseCommand(): Command {
  const command = pipelineCommand(
    'pause',
    'pause a pipeline: its ventilators send no job (jobs out run on; batches and jobs are still taken in) until jobpipe resume',
  );
  command.action(async (pipeline: string) => {
    await withClient(configFrom(command, redisAccess), (client) => client.pause(pipeline));
    say(`paused ${pipeline}`);
  });
  return command;
}

export function resumeCommand(): Command {
  const command = pipelineCommand('resume', 'resume a paused pipeline');
  command.action(async (pipeline: string) => {
    await withClient(configFrom(command, redisAccess), (client) => client.resume(pipeline));
    say(`resumed ${pipeline}`);
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
