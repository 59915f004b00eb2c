#!/usr/bin/env node
/**
 * `jobpipe`: one command for every role. This is the composition root: the only place that
 * imports several apps, each of which stays a thin shell around its role.
 */
import { Command } from 'commander';
import { ConfigError } from '@jobpipe/config';
import { PipelineError } from '@jobpipe/pipeline';
import { runSink, sinkSettings } from '@jobpipe/sink';
import { runVentilator, ventilatorSettings } from '@jobpipe/ventilator';
import { runWorker, workerSettings } from '@jobpipe/worker';
import { SubmissionError } from '@jobpipe/intake';
import { deadCommand, statusCommand, submitCommand } from './admin-commands.js';
import { demoSettings, runDemo } from './demo.js';
import { topCommand } from './top/top-command.js';
import { addSettingOptions, configFrom } from './settings-options.js';

const program = new Command('jobpipe')
  .description('Distributed job pipeline: a ventilator fans jobs out over ZeroMQ to workers; a sink records the results.')
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

const roles = [
  { name: 'ventilator', summary: 'split batches into jobs and send them to workers', spec: ventilatorSettings, run: runVentilator },
  { name: 'worker', summary: 'run jobs and push their results to the sink', spec: workerSettings, run: runWorker },
  { name: 'sink', summary: 'record results once each and publish batch events', spec: sinkSettings, run: runSink },
  { name: 'demo', summary: 'run 1 ventilator, 3 workers and 1 sink on loopback over the primes example', spec: demoSettings, run: runDemo },
] as const;

for (const role of roles) {
  const command = addSettingOptions(new Command(role.name).description(role.summary), role.spec);
  command.action(async () => {
    const config = configFrom(command, role.spec);
    await (role.run as (config: unknown) => Promise<void>)(config);
  });
  program.addCommand(command);
}

program.addCommand(submitCommand());
program.addCommand(statusCommand());
program.addCommand(deadCommand());
program.addCommand(topCommand());

program.parseAsync(process.argv).catch((error: unknown) => {
  // Bad configuration, a pipeline module that cannot be used or a bad submission: one clear line, exit code 2.
  if (error instanceof ConfigError || error instanceof PipelineError || error instanceof SubmissionError || error instanceof TypeError) {
    process.stderr.write(`jobpipe: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`jobpipe: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
