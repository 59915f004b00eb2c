import { describe, expect, it } from 'vitest';
import { common } from './common-settings.js';
import { AddressError, addressError, checkSetting, settingName } from './errors.js';
import { ConfigError } from './load-config.js';

const errno = (code: string) => Object.assign(new Error(`listen ${code}`), { code });

describe('AddressError', () => {
  it('names the setting, the address and what to do, in one line', () => {
    const error = addressError(errno('EADDRINUSE'), common.metricsPort, 'port 9400')!;
    expect(error).toBeInstanceOf(AddressError);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ env: 'JOBPIPE_METRICS_PORT', flag: 'metrics-port', address: 'port 9400', code: 'EADDRINUSE' });
    expect(error.message).toBe('JOBPIPE_METRICS_PORT (--metrics-port): port 9400 is in use by another process: stop that process, or choose another');
    expect(error.cause).toMatchObject({ code: 'EADDRINUSE' });
    expect(addressError(errno('EADDRNOTAVAIL'), common.jobsBind, 'tcp://10.1.2.3:5557', 'bind elsewhere')!.message).toBe(
      'JOBPIPE_JOBS_BIND (--jobs-bind): tcp://10.1.2.3:5557 is not an address of this machine: bind elsewhere',
    );
    for (const code of ['EACCES', 'ENODEV', 'ENOENT', 'EINVAL']) expect(addressError(errno(code), common.jobsBind, 'x')!.message).not.toContain('\n');
  });

  it('leaves other errors to the caller', () => {
    expect(addressError(errno('ECONNRESET'), common.metricsPort, 'port 1')).toBeUndefined();
    expect(addressError(new Error('boom'), common.metricsPort, 'port 1')).toBeUndefined();
    expect(addressError(undefined, common.metricsPort, 'port 1')).toBeUndefined();
  });

  it('checkSetting turns what a check throws into a ConfigError naming the setting', () => {
    expect(settingName(common.redisUrl)).toBe('JOBPIPE_REDIS_URL (--redis-url)');
    expect(() => checkSetting(common.redisPrefix, () => undefined)).not.toThrow();
    expect(() =>
      checkSetting(common.redisPrefix, () => {
        throw new TypeError('has a space');
      }),
    ).toThrow(new ConfigError('JOBPIPE_REDIS_PREFIX', 'redis-prefix', 'invalid JOBPIPE_REDIS_PREFIX (--redis-prefix): has a space'));
  });
});
