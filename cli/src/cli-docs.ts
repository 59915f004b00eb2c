import { Help, type Argument, type Command, type Option } from 'commander';
import { defaultText } from '@jobpipe/config';
import { settingOf } from './settings-options.js';

/**
 * docs/cli.md: every command of the program, with its arguments and options, taken from the
 * commander program itself (the same text as --help), so it cannot drift from the code. A test
 * compares the file with this; `node scripts/cli-docs.mjs --write` regenerates it.
 */
export function cliReference(program: Command): string {
  const help = new Help();
  const commands = everyCommand(program).slice(1);
  const out: string[] = [
    '# The `jobpipe` command',
    '',
    '<!-- Generated from the program (cli/src/program.ts) by `node scripts/cli-docs.mjs --write`; a test fails when it is out of date. Do not edit by hand. -->',
    '',
    sentence(help.commandDescription(program)),
    '',
    "`npx jobpipe <command> --help` shows what this page says of one command. An option with an env var is a setting: it is read from its flag, else from its environment variable, else it takes its default. Every value is checked at start: a bad one prints one line naming it and exits with code 2, as a usage error (an unknown option, a missing argument) does. The settings of the three roles are also in the README's [configuration table](../README.md#configuration).",
    '',
    '```',
    help.commandUsage(program),
    '```',
    '',
    ...optionsTable(help, program),
    '| command | what it does |',
    '|---|---|',
    ...commands.map((command) => `| [\`${path(command).join(' ')}\`](#${anchor(command)}) | ${cell(help.subcommandDescription(command))} |`),
  ];
  for (const command of commands) {
    while (out.at(-1) === '') out.pop();
    out.push('', `## ${path(command).join(' ')}`, '');
    const description = help.commandDescription(command);
    if (description) out.push(sentence(description), '');
    out.push('```', help.commandUsage(command), '```', '');
    const args = command.registeredArguments;
    if (args.length > 0) {
      out.push('| argument | meaning |', '|---|---|', ...args.map((arg) => `| \`${argumentTerm(arg)}\` | ${cell(help.argumentDescription(arg))} |`), '');
    }
    out.push(...optionsTable(help, command));
    const subcommands = command.commands.filter((sub) => !(sub as Command & { _hidden?: boolean })._hidden);
    if (subcommands.length > 0) {
      out.push(
        '| command | what it does |',
        '|---|---|',
        ...subcommands.map((sub) => `| [\`${path(sub).join(' ')}\`](#${anchor(sub)}) | ${cell(help.subcommandDescription(sub))} |`),
        '',
      );
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** The options other than --help, as a table; settings with their env var and their default as the README shows it. */
function optionsTable(help: Help, command: Command): string[] {
  const options = command.options.filter((option) => !option.hidden);
  if (options.length === 0) return [];
  const withEnv = options.some((option) => settingOf(option) !== undefined);
  const rows = options.map((option) => {
    const setting = settingOf(option);
    const term = `\`${help.optionTerm(option)}\``;
    if (setting) return `| ${term} | \`${setting.env}\` | ${cell(defaultText(setting))} | ${cell(setting.description)} |`;
    const row = [term, cell(defaultOf(option)), cell(option.description)];
    if (withEnv) row.splice(1, 0, '');
    return `| ${row.join(' | ')} |`;
  });
  return withEnv
    ? ['| option | env | default | meaning |', '|---|---|---|---|', ...rows, '']
    : ['| option | default | meaning |', '|---|---|---|', ...rows, ''];
}

function defaultOf(option: Option): string {
  if (option.defaultValueDescription) return option.defaultValueDescription;
  if (option.defaultValue === undefined || typeof option.defaultValue === 'boolean') return '';
  return `\`${String(option.defaultValue)}\``;
}

function argumentTerm(arg: Argument): string {
  const name = `${arg.name()}${arg.variadic ? '...' : ''}`;
  return arg.required ? `<${name}>` : `[${name}]`;
}

const everyCommand = (command: Command): Command[] => [command, ...command.commands.flatMap(everyCommand)];

function path(command: Command): string[] {
  return command.parent ? [...path(command.parent), command.name()] : [command.name()];
}

/** GitHub's anchor of a `## jobpipe dead list` heading. */
function anchor(command: Command): string {
  return path(command).join('-').toLowerCase();
}

/** Help text as a sentence: a capital first letter and a full stop. */
function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** Text for a table cell: pipes escaped, and angle brackets outside code spans shown rather than taken for HTML. */
function cell(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replaceAll('<', '&lt;').replaceAll('>', '&gt;')))
    .join('`')
    .replaceAll('|', '\\|')
    .replace(/\s*\n\s*/g, ' ');
}
