import { Command, Option } from 'commander';
import { defaultText, loadConfig, type ConfigOf, type SettingsSpec } from '@jobpipe/config';

/** Adds one `--flag <value>` per setting, its help naming the env var and the default. */
export function addSettingOptions(command: Command, spec: SettingsSpec): Command {
  for (const setting of Object.values(spec)) {
    const shown = defaultText(setting).replaceAll('`', '');
    command.addOption(new Option(`--${setting.flag} <value>`, `${setting.description} (default: ${shown}) [env ${setting.env}]`));
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
