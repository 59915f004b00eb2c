import { JobpipeError } from '@jobpipe/protocol/errors';
import type { Setting } from './settings.js';

/** The three roles an embedder can build in code. */
export type RoleName = 'ventilator' | 'worker' | 'sink' | 'console';

/**
 * An option given to a role built in code (`new Ventilator(...)`, `new Worker(...)`,
 * `new Sink(...)`) that the role cannot run with. Names the role, the option and, when a setting
 * feeds that option, the setting, so the same mistake reads alike from code and from the CLI.
 */
export class OptionError extends JobpipeError {
  override name = 'OptionError';
  constructor(
    readonly role: RoleName,
    /** The option's field name, e.g. `maxInFlight`. */
    readonly option: string,
    /** What is wrong with its value. */
    readonly reason: string,
    /** The setting that feeds the option, when there is one. */
    readonly setting?: Pick<Setting<unknown>, 'env' | 'flag'>,
  ) {
    super(`invalid ${role} option ${option}${setting ? ` (${setting.env}, --${setting.flag})` : ''}: ${reason}`);
  }
}

/**
 * How one option is checked: its default (whose type the value must have) and the parse that
 * checks the same value given as text. A role's CLI setting is one (its env and flag then show in
 * the error); an option with no setting is made with `option(...)`.
 */
export interface OptionRule<T = unknown> {
  default?: T;
  parse: (raw: string) => unknown;
  env?: string;
  flag?: string;
}

/** The rule of an option that no CLI setting feeds. */
export function option<T>(defaultValue: T, parse: (raw: string) => unknown): OptionRule<T> {
  return { default: defaultValue, parse };
}

/** Every rule's default, by option name. */
export function defaultsOf<R extends Record<string, OptionRule>>(rules: R): { [K in keyof R]: R[K] extends OptionRule<infer T> ? T : never } {
  return Object.fromEntries(Object.entries(rules).map(([name, rule]) => [name, rule.default])) as never;
}

/**
 * Checks each option that has a rule as the CLI checks its text (the same ranges, endpoint forms):
 * a value of another type than its default, a number that is not finite, or a value the parse
 * refuses is an OptionError naming it.
 */
export function checkOptions(role: RoleName, values: object, rules: Record<string, OptionRule>): void {
  for (const [name, rule] of Object.entries(rules)) {
    const value = (values as Record<string, unknown>)[name];
    const setting = rule.env !== undefined && rule.flag !== undefined ? { env: rule.env, flag: rule.flag } : undefined;
    try {
      const expected = rule.default === undefined ? undefined : typeof rule.default;
      if (expected !== undefined && typeof value !== expected) throw new Error(`${describe(value)} is not a ${expected}`);
      if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${value} is not a finite number`);
      if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`${describe(value)} is not a number or a string`);
      rule.parse(String(value));
    } catch (error) {
      throw new OptionError(role, name, (error as Error).message, setting);
    }
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The options given a value: one given as undefined takes its default, as if left out. */
export function definedOnly<O extends object>(options: O): Partial<O> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<O>;
}
