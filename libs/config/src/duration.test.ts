import { describe, expect, it } from 'vitest';
import { retention } from './common-settings.js';
import { ConfigError, loadConfig } from './load-config.js';
import { duration, formatDuration, setting } from './settings.js';

describe('duration', () => {
  const parse = duration(1000, 30 * 86_400_000);

  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1500ms', 1500],
    ['2000', 2000],
    [' 2 H ', 7_200_000],
  ])('reads %s as %i ms', (raw, ms) => {
    expect(parse(raw)).toBe(ms);
  });

  it.each([
    ['1.5h', /is not a duration/],
    ['-5s', /is not a duration/],
    ['10y', /is not a duration/],
    ['', /is not a duration/],
    ['h', /is not a duration/],
    ['999', /999 is outside 1s\.\.30d/],
    ['31d', /31d is outside 1s\.\.30d/],
    ['99999999999999999999d', /is outside/],
  ])('refuses %j', (raw, message) => {
    expect(() => parse(raw)).toThrow(message);
  });

  it('formats milliseconds back as the shortest text it reads', () => {
    expect([86_400_000, 7_200_000, 90_000, 1_800_000, 1500, 0].map(formatDuration)).toEqual(['1d', '2h', '90s', '30m', '1500ms', '0ms']);
    for (const ms of [1000, 61_000, 3_600_000, 1234]) expect(parse(formatDuration(ms))).toBe(ms);
  });

  it('is a setting like any other: a bad value is one line naming it', () => {
    const spec = { ttl: setting({ env: 'X_TTL', flag: 'ttl', description: 'a ttl', default: 60_000, parse }) };
    expect(loadConfig(spec, { env: {} })).toEqual({ ttl: 60_000 });
    expect(loadConfig(spec, { env: { X_TTL: '2m' } })).toEqual({ ttl: 120_000 });
    expect(() => loadConfig(spec, { env: { X_TTL: 'soon' } })).toThrow(ConfigError);
    expect(() => loadConfig(spec, { env: {}, flags: { ttl: '5' } })).toThrow(/^invalid --ttl: 5 is outside 1s\.\.30d$/);
  });
});

describe('retention', () => {
  it('is a duration of at least a second, or 0 for forever', () => {
    expect(retention('24h')).toBe(86_400_000);
    expect(retention('0')).toBe(0);
    expect(retention('0d')).toBe(0);
    expect(() => retention('500ms')).toThrow(/outside 1s\.\.3650d/);
    expect(() => retention('3651d')).toThrow(/outside/);
  });
});
