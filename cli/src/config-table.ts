import { settingsTable, type SettingsSpec } from '@jobpipe/config';
import { consoleSettings } from '@jobpipe/console/settings';
import { sinkSettings } from '@jobpipe/sink';
import { ventilatorSettings } from '@jobpipe/ventilator';
import { workerSettings } from '@jobpipe/worker';

/** Every role's settings in one Markdown table, each setting once, with the roles that read it. */
export function allSettingsTable(): string {
  const roles: [string, SettingsSpec][] = [
    ['ventilator', ventilatorSettings],
    ['worker', workerSettings],
    ['sink', sinkSettings],
    ['console', consoleSettings],
  ];
  const merged: SettingsSpec = {};
  const readers = new Map<string, string[]>();
  for (const [role, spec] of roles) {
    for (const setting of Object.values(spec)) {
      // A setting the roles share is described as they read it; the console's own words are for its own.
      if (role !== 'console' || !(setting.env in merged)) merged[setting.env] = setting;
      readers.set(setting.env, [...(readers.get(setting.env) ?? []), role]);
    }
  }
  const table = settingsTable(merged).split('\n');
  const header = table[0]!.replace('| env |', '| env | read by |');
  const rule = table[1]!.replace('|---|', '|---|---|');
  const rows = Object.keys(merged).map((env, i) => table[i + 2]!.replace(`| \`${env}\` |`, `| \`${env}\` | ${readers.get(env)!.join(', ')} |`));
  return [header, rule, ...rows].join('\n');
}
