import { describe, expect, it } from 'vitest';
import { JobpipeError } from '@jobpipe/protocol/errors';
import { common } from './common-settings.js';
import { checkOptions, defaultsOf, option, OptionError } from './options.js';
import { integer } from './settings.js';

const rules = {
  maxMessageBytes: common.maxMessageBytes,
  jobsBind: common.jobsBind,
  maxOpenBatches: option(10, integer(1, 100)),
};

function errorOf(values: object): OptionError {
  try {
    checkOptions('sink', values, rules);
  } catch (error) {
    return error as OptionError;
  }
  throw new Error('checkOptions accepted it');
}

describe('checkOptions', () => {
  it('accepts values the settings accept', () => {
    expect(() => checkOptions('sink', { maxMessageBytes: 2048, jobsBind: 'tcp://*:1', maxOpenBatches: 100 }, rules)).not.toThrow();
  });

  it.each([
    ['maxMessageBytes', 1000, '1000 is outside 1024..1073741824'],
    ['maxMessageBytes', Number.NaN, 'NaN is not a finite number'],
    ['maxMessageBytes', '4096', '"4096" is not a number'],
    ['jobsBind', 'nowhere', 'is not a ZeroMQ endpoint'],
    ['maxOpenBatches', 0, '0 is outside 1..100'],
    ['maxOpenBatches', 2.5, '"2.5" is not an integer'],
  ])('refuses %s = %s with an OptionError naming the role, the option and why', (name, value, why) => {
    const error = errorOf({ ...defaultsOf(rules), [name]: value });
    expect(error).toBeInstanceOf(OptionError);
    expect(error).toBeInstanceOf(JobpipeError);
    expect(error.role).toBe('sink');
    expect(error.option).toBe(name);
    expect(error.message).toContain(`invalid sink option ${name}`);
    expect(error.reason).toContain(why);
  });

  it('names the setting that feeds an option, and none for an option without one', () => {
    const fed = errorOf({ ...defaultsOf(rules), maxMessageBytes: 1 });
    expect(fed.setting).toEqual({ env: 'JOBPIPE_MAX_MESSAGE_BYTES', flag: 'max-message-bytes' });
    expect(fed.message).toContain('(JOBPIPE_MAX_MESSAGE_BYTES, --max-message-bytes)');
    const own = errorOf({ ...defaultsOf(rules), maxOpenBatches: -1 });
    expect(own.setting).toBeUndefined();
    expect(own.message).toBe('invalid sink option maxOpenBatches: -1 is outside 1..100');
  });

  it('gives each rule its default', () => {
    expect(defaultsOf(rules)).toEqual({ maxMessageBytes: 4 * 1024 * 1024, jobsBind: 'tcp://*:5557', maxOpenBatches: 10 });
  });
});
