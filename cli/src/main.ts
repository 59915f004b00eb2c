#!/usr/bin/env node
/**
 * `jobpipe`: one command for every role. This and program.ts (which builds the commands) are the
 * composition root: the only place that imports several apps, each of which stays a thin shell
 * around its role.
 */
import type { Command, CommanderError } from 'commander';
import { ConfigError } from '@jobpipe/config';
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
  // What the user can cause (a setting, an input, the environment): one line, exit code 2, the
  // stack only at log level debug or trace. Anything else is a bug: exit code 1 with the stack.
  const line = userErrorLine(error);
  if (line !== undefined) {
    process.stderr.write(`jobpipe: ${line}\n`);
    if (debugging())
      for (let e: unknown = error; e instanceof Error; e = e.cause) process.stderr.write(`${e === error ? '' : 'caused by: '}${e.stack ?? e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`jobpipe: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});

/** Errors of the pipeline module, the input, the command's arguments and the OpenTelemetry variables, by name: their classes are loaded only by the commands that throw them. */
const USER_ERRORS = new Set(['PipelineError', 'InputError', 'SubmissionError', 'UsageError', 'TracingSettingError']);

/** What file system calls say, in plain words, for a file the user named. */
const FILE_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'exists already',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
};

/**
 * The one line for an error the user can cause, or undefined for any other: a ConfigError (and
 * its kinds: an address in use, a Redis that refuses or cannot be reached), a pipeline module,
 * input or argument that is rejected, or a file that cannot be read or written.
 */
function userErrorLine(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof ConfigError || USER_ERRORS.has(error.name)) return error.message.replace(/\s*\n\s*/g, ' ');
  const { code, path, syscall } = error as NodeJS.ErrnoException;
  if (path !== undefined && code !== undefined && code in FILE_PROBLEMS) return `${path}: ${FILE_PROBLEMS[code]}${syscall ? ` (${syscall})` : ''}`;
  return undefined;
}

/** --log-level debug or trace (or JOBPIPE_LOG_LEVEL), the flag winning as it does for settings. */
function debugging(): boolean {
  const args = process.argv;
  const at = args.lastIndexOf('--log-level');
  const flag = at >= 0 ? args[at + 1] : args.findLast((arg) => arg.startsWith('--log-level='))?.slice('--log-level='.length);
  return ['debug', 'trace'].includes(flag ?? process.env.JOBPIPE_LOG_LEVEL ?? '');
}
