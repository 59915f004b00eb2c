import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';
import { endpoint, integer, port, setting } from './settings.js';

const spec = {
  port: setting({ env: 'X_PORT', flag: 'port', description: 'a port', default: 80, parse: port }),
  endpoint: setting({ env: 'X_ENDPOINT', flag: 'endpoint', description: 'an endpoint', parse: endpoint }),
  count: setting({ env: 'X_COUNT', flag: 'count', description: 'a count', default: 1, parse: integer(1, 10) }),
};

describe('loadConfig', () => {
  it('takes flags over env over defaults', () => {
    const config = loadConfig(spec, { env: { X_ENDPOINT: 'tcp://a:1', X_COUNT: '3' }, flags: { count: '5' } });
    expect(config).toEqual({ port: 80, endpoint: 'tcp://a:1', count: 5 });
  });

  it.each([
    [{ X_ENDPOINT: 'tcp://a:1', X_PORT: '70000' }, /invalid X_PORT: 70000 is not a port/],
    [{ X_ENDPOINT: 'http://a:1' }, /invalid X_ENDPOINT: "http:\/\/a:1" is not a ZeroMQ endpoint/],
    [{ X_ENDPOINT: 'tcp://a:99999' }, /port 99999 .* out of range/],
    [{}, /missing setting X_ENDPOINT \(or --endpoint\)/],
    [{ X_ENDPOINT: 'tcp://*:1', X_COUNT: '2.5' }, /invalid X_COUNT: "2.5" is not an integer/],
    [{ X_ENDPOINT: 'tcp://*:1', X_COUNT: '11' }, /invalid X_COUNT: 11 is outside 1..10/],
  ])('rejects %o with one clear line', (env, message) => {
    let thrown: unknown;
    try {
      loadConfig(spec, { env });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain('\n');
  });

  it('names the flag when the bad value came from a flag', () => {
    expect(() => loadConfig(spec, { env: { X_ENDPOINT: 'tcp://*:1' }, flags: { count: 'x' } })).toThrow(/invalid --count/);
  });

  it('accepts the endpoint forms zeromq accepts', () => {
    for (const value of ['tcp://*:5557', 'tcp://127.0.0.1:1', 'tcp://[::1]:5557', 'tcp://ventilator:5557', 'ipc:///tmp/x', 'inproc://y']) {
      expect(endpoint(value)).toBe(value);
    }
  });
});
