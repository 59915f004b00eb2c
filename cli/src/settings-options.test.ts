import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { integer, nonEmpty, setting } from '@jobpipe/config';
import { addSettingOptions, defaultHelp, settingOf } from './settings-options.js';

const spec = {
  pipeline: setting({ env: 'X_PIPELINE', flag: 'pipeline', description: 'the module', parse: nonEmpty }),
  port: setting({ env: 'X_PORT', flag: 'port', description: 'a port', default: 9400, parse: integer(0, 65535) }),
  input: setting<string | undefined>({
    env: 'X_INPUT',
    flag: 'input',
    description: 'an input',
    default: undefined,
    defaultText: '(none: wait)',
    parse: nonEmpty,
  }),
  secret: setting<string | undefined>({ env: 'X_SECRET', flag: 'secret', description: 'a secret', default: undefined, parse: nonEmpty }),
  id: setting<string | undefined>({ env: 'X_ID', flag: 'id', description: 'an id', default: undefined, defaultText: '`<pipeline>-<time>`', parse: nonEmpty }),
  threads: setting({ env: 'X_THREADS', flag: 'threads', description: 'threads', default: 0, defaultText: "the pipeline's, else 0", parse: integer(0, 9) }),
};

describe('--help of settings', () => {
  it('says "(required)" once for a required setting, never "(default: (required))"', () => {
    expect(defaultHelp(spec.pipeline)).toBe('(required)');
    const help = addSettingOptions(new Command('x'), spec).helpInformation().replace(/\s+/g, ' ');
    expect(help).toContain('the module (required) [env X_PIPELINE]');
    expect(help).not.toContain('default: (');
  });

  it('shows other defaults plainly', () => {
    expect(defaultHelp(spec.port)).toBe('(default: 9400)');
    expect(defaultHelp(spec.secret)).toBe('(default: none)');
    expect(defaultHelp(spec.input)).toBe('(default: none, wait)');
    expect(defaultHelp(spec.id)).toBe('(default: <pipeline>-<time>)');
    expect(defaultHelp(spec.threads)).toBe("(default: the pipeline's, else 0)");
  });

  it('remembers the setting behind each option (for docs/cli.md)', () => {
    const command = addSettingOptions(new Command('x'), spec);
    expect(command.options.map((option) => settingOf(option)?.env)).toEqual(Object.values(spec).map((s) => s.env));
    expect(settingOf(new Command('y').option('--other').options[0]!)).toBeUndefined();
  });
});
