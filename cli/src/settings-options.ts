import { type Command, Option } from 'commander';
import { defaultText, loadConfig, type ConfigOf, type Setting, type SettingsSpec } from '@jobpipe/config';

const settingOfOption = new WeakMap<Option, Setting>();

/** The setting behind an option that addSettingOptions made (for docs/cli.md), else undefined. */
export function settingOf(option: Option): Setting | undefined {
  return settingOfOption.get(option);
}

/**
 * What --help says of a setting's default: `(required)` for one without a default, else
 * `(default: ...)`, its text as the README's table shows it but without Markdown's backticks and
 * without the parentheses around a text that is not a value (`(none)` reads `none`).
 */
export function defaultHelp(setting: Setting): string {
  if (!('default' in setting)) return '(required)';
  const text = defaultText(setting)
    .replaceAll('`', '')
    .replace(/^\((.*)\)$/, '$1')
    .replace(/^none: /, 'none, ');
  return `(default: ${text})`;
}

/** Adds one `--flag <value>` per setting, its help naming the default (or that it is required) and the env var. */
export function addSettingOptions(command: Command, spec: SettingsSpec): Command {
  for (const setting of Object.values(spec)) {
    const option = new Option(`--${setting.flag} <value>`, `${setting.description} ${defaultHelp(setting)} [env ${setting.env}]`);
    settingOfOption.set(option, setting);
    command.addOption(option);
  }
  return command;
}

/** Reads the settings from the command's flags and the environment (flags win). */
export function configFrom<S extends SettingsSpec>(command: Command, spec: S): ConfigOf<S> {
  const options = command.opts<Record<string, string | undefined>>();
  const flags: Record<string, string | undefined> = {};
  for (const setting of Object.values(spec)) flags[setting.flag] = options[camelCase(setting.flag)];
  return loadConfig(spec, { flags });
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}
