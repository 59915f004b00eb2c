/**
 * The `jobpipe` program: every command, its options and its action, built without running
 * anything, so that main.ts runs it and scripts/cli-docs.mjs documents it (docs/cli.md).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { consoleSettings } from '@jobpipe/console/settings';
import { sinkSettings } from '@jobpipe/sink/settings';
import { ventilatorSettings } from '@jobpipe/ventilator/settings';
import { workerSettings } from '@jobpipe/worker/settings';
import { deadCommand, statusCommand, submitCommand } from './admin-commands.js';
import { demoSettings } from './demo-settings.js';
import { cancelCommand, limitCommand, pauseCommand, resumeCommand } from './control-commands.js';
import { addCommand, jobCommand } from './job-commands.js';
import { keysCommand } from './keys-command.js';
import { resultsCommand } from './results-command.js';
import { topCommand } from './top/top-command.js';
import { addSettingOptions, configFrom } from './settings-options.js';

// Only the code of the command that runs is loaded: each process starts in a fraction of the time.
const runners = {
  ventilator: async () => (await import('@jobpipe/ventilator')).runVentilator,
  worker: async () => (await import('@jobpipe/worker')).runWorker,
  sink: async () => (await import('@jobpipe/sink')).runSink,
  console: async () => (await import('@jobpipe/console')).runConsole,
  demo: async () => (await import('./demo.js')).runDemo,
};

const roles = [
  { name: 'ventilator', summary: 'split batches into jobs and send them to workers', spec: ventilatorSettings },
  { name: 'worker', summary: 'run jobs and push their results to the sink', spec: workerSettings },
  { name: 'sink', summary: 'record results once each and publish batch events', spec: sinkSettings },
  { name: 'console', summary: "serve the operator's HTTP API (/v1) and web UI", spec: consoleSettings },
  { name: 'demo', summary: 'run 1 ventilator, 3 workers (--workers) and 1 sink on loopback over the primes example', spec: demoSettings },
] as const;

/** The version of the cli package, read from its package.json beside dist/ (or src/), wherever it is installed. */
export function cliVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The whole `jobpipe` program, ready for parseAsync. */
export function buildProgram(): Command {
  const program = new Command('jobpipe')
    .description('Distributed job pipeline: a ventilator fans jobs out over ZeroMQ to workers; a sink records the results.')
    .version(cliVersion(), '-V, --version', 'print the version of jobpipe')
    .showHelpAfterError();

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
  program.addCommand(addCommand());
  program.addCommand(jobCommand());
  program.addCommand(statusCommand());
  program.addCommand(resultsCommand());
  program.addCommand(deadCommand());
  program.addCommand(cancelCommand());
  program.addCommand(pauseCommand());
  program.addCommand(resumeCommand());
  program.addCommand(limitCommand());
  program.addCommand(topCommand());
  program.addCommand(keysCommand());
  return program;
}
