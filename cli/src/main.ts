#!/usr/bin/env node
/**
 * `jobpipe`: one command for every role. This is the composition root: the only place that
 * imports several apps, each of which stays a thin shell around its role.
 */
import { Command, type CommanderError } from 'commander';
import { sinkSettings } from '@jobpipe/sink/settings';
import { ventilatorSettings } from '@jobpipe/ventilator/settings';
import { workerSettings } from '@jobpipe/worker/settings';
import { deadCommand, statusCommand, submitCommand } from './admin-commands.js';
import { demoSettings } from './demo-settings.js';
import { keysCommand } from './keys-command.js';
import { topCommand } from './top/top-command.js';
import { addSettingOptions, configFrom } from './settings-options.js';

// Only the code of the command that runs is loaded: each process starts in a fraction of the time.
const runners = {
  ventilator: async () => (await import('@jobpipe/ventilator')).runVentilator,
  worker: async () => (await import('@jobpipe/worker')).runWorker,
  sink: async () => (await import('@jobpipe/sink')).runSink,
  demo: async () => (await import('./demo.js')).runDemo,
};

// Output piped into `head` and closed early is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('jobpipe')
  .description('Distributed job pipeline: a ventilator fans jobs out over ZeroMQ to workers; a sink records the results.')
  .showHelpAfterError();

const roles = [
  { name: 'ventilator', summary: 'split batches into jobs and send them to workers', spec: ventilatorSettings },
  { name: 'worker', summary: 'run jobs and push their results to the sink', spec: workerSettings },
  { name: 'sink', summary: 'record results once each and publish batch events', spec: sinkSettings },
  { name: 'demo', summary: 'run 1 ventilator, 3 workers and 1 sink on loopback over the primes example', spec: demoSettings },
] as const;

for (const role of roles) {
  const command = addSettingOptions(new Command(role.name).description(role.summary), role.spec);
  command.action(async () => {
    const config = configFrom(command, role.spec);
    const run = (await runners[role.name]()) as (config: unknown) => Promise<void>;
    await run(config);
  });
  program.addCommand(command);
}

program.addCommand(submitCommand());
program.addCommand(statusCommand());
program.addCommand(deadCommand());
program.addCommand(topCommand());
program.addCommand(keysCommand());

// A usage error (unknown flag, missing value) exits 2 like a bad setting, in every subcommand.
const usageExit = (error: CommanderError) => process.exit(error.exitCode === 0 ? 0 : 2);
const everyCommand = (command: Command): Command[] => [command, ...command.commands.flatMap(everyCommand)];
for (const command of everyCommand(program)) command.exitOverride(usageExit);

program.parseAsync(process.argv).catch((error: unknown) => {
  // Bad configuration, a pipeline module that cannot be used or a bad submission: one clear line, exit code 2.
  const name = (error as Error | undefined)?.name;
  if (name === 'ConfigError' || name === 'PipelineError' || name === 'SubmissionError' || error instanceof TypeError) {
    process.stderr.write(`jobpipe: ${(error as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(`jobpipe: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
