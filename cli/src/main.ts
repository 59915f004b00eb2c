#!/usr/bin/env node
/**
 * `jobpipe`: one command for every role. This and program.ts (which builds the commands) are the
 * composition root: the only place that imports several apps, each of which stays a thin shell
 * around its role.
 */
import { type Command, type CommanderError } from 'commander';
import { buildProgram } from './program.js';

// Output piped into `head` and closed early is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

// Every command, its options and its action (also what docs/cli.md is generated from).
const program = buildProgram();

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
