import { JobpipeError } from '@jobpipe/protocol/errors';
import type { Setting } from './settings.js';

/** An invalid or missing setting. Its message is the one line a user sees before exit code 2. */
export class ConfigError extends JobpipeError {
  override name = 'ConfigError';
  constructor(
    readonly env: string,
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

export type SettingsSpec = Record<string, Setting<any>>;
export type ConfigOf<S extends SettingsSpec> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/**
 * Reads every setting from flags first, then the environment, then its default, and parses it.
 * Throws a ConfigError naming the first setting that is missing or invalid.
 */
export function loadConfig<S extends SettingsSpec>(
  spec: S,
  sources: { env?: NodeJS.ProcessEnv; flags?: Record<string, string | undefined> } = {},
): ConfigOf<S> {
  const env = sources.env ?? process.env;
  const flags = sources.flags ?? {};
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(spec)) {
    const fromFlag = flags[setting.flag];
    const raw = fromFlag ?? env[setting.env];
    const source = fromFlag !== undefined ? `--${setting.flag}` : setting.env;
    if (raw === undefined || raw === '') {
      if (!('default' in setting)) {
        throw new ConfigError(setting.env, setting.flag, `missing setting ${setting.env} (or --${setting.flag}): ${setting.description}`);
      }
      config[key] = setting.default;
      continue;
    }
    try {
      config[key] = setting.parse(raw);
    } catch (error) {
      throw new ConfigError(setting.env, setting.flag, `invalid ${source}: ${(error as Error).message}`);
    }
  }
  return config as ConfigOf<S>;
}

/** A Markdown table of settings, for the README. */
export function settingsTable(spec: SettingsSpec): string {
  const rows = Object.values(spec).map((s) => `| \`${s.env}\` | \`--${s.flag}\` | ${defaultText(s)} | ${s.description} |`);
  return ['| env | flag | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** The default as --help and the README show it. */
export function defaultText(setting: Setting<unknown>): string {
  if (setting.defaultText !== undefined) return setting.defaultText;
  if (!('default' in setting)) return '(required)';
  return setting.default === undefined ? '(none)' : `\`${String(setting.default)}\``;
}
