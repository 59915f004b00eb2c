import { describe, expect, it } from 'vitest';
import { OptionError } from '@jobpipe/config';
import { MemoryDispatchLedger } from '@jobpipe/ledger';
import type { Pipeline } from '@jobpipe/pipeline';
import { JOBS_FRAME_SLACK_BYTES } from '@jobpipe/protocol';
import { ventilatorSettings } from './settings.js';
import { compileVentilatorOptions, withDefaults } from './ventilator-options.js';

const pipeline = { name: 'p', split: () => [], work: () => null } as unknown as Pipeline;

describe('ventilator options', () => {
  it("fills in every default from the settings' defaults", () => {
    const o = withDefaults({ pipeline });
    expect(o).toMatchObject({
      jobsBind: 'tcp://*:5557',
      resultsConnect: ventilatorSettings.resultsConnect.default,
      eventsConnect: ventilatorSettings.eventsConnect.default,
      maxInFlight: 10_000,
      maxJobsPerMessage: 500,
      leaseMs: 60_000,
      maxAttempts: 5,
      heartbeatMs: 1000,
      maxMessageBytes: 4 * 1024 * 1024,
    });
    expect(o.pipelines).toEqual([pipeline]);
    expect(o.ledgerOf('p')).toBeInstanceOf(MemoryDispatchLedger);
    expect(o.security.enabled).toBe(false);
    expect(o.logger.level).toBe('silent');
  });

  it('keeps what is given; undefined means the default', () => {
    const ledger = new MemoryDispatchLedger({ leaseMs: 1000, maxAttempts: 1 });
    const o = withDefaults({ pipeline, ledger, leaseMs: 1000, maxInFlight: undefined });
    expect(o.ledgerOf('p')).toBe(ledger);
    expect([o.leaseMs, o.maxInFlight]).toEqual([1000, 10_000]);
  });

  it('compiles what follows from the options once', () => {
    const o = compileVentilatorOptions({ pipeline, leaseMs: 120, maxMessageBytes: 2048 });
    expect(o.reapEveryMs).toBe(50);
    expect(compileVentilatorOptions({ pipeline }).reapEveryMs).toBe(500);
    expect(o.packBudgetBytes).toBe(2048 - JOBS_FRAME_SLACK_BYTES);
  });

  it('takes several pipelines, each with a ledger of its own; not two of one name, nor none', () => {
    const other = { ...pipeline, name: 'q' } as typeof pipeline;
    const o = compileVentilatorOptions({ pipelines: [pipeline, other] });
    expect(o.pipelines.map((each) => each.name)).toEqual(['p', 'q']);
    expect(o.ledgerOf('p')).not.toBe(o.ledgerOf('q'));
    expect(() => compileVentilatorOptions({ pipelines: [pipeline, pipeline] })).toThrow(/two pipelines are named p/);
    expect(() => compileVentilatorOptions({ pipelines: [] })).toThrow(OptionError);
    expect(() => compileVentilatorOptions({ pipeline, pipelines: [other] })).toThrow(/not both/);
  });

  it("refuses a value outside its setting's rule, naming the option and the setting", () => {
    const refused = (options: object) => {
      try {
        compileVentilatorOptions({ pipeline, ...options });
      } catch (error) {
        expect(error).toBeInstanceOf(OptionError);
        return (error as Error).message;
      }
      return undefined;
    };
    expect(refused({ maxInFlight: 0 })).toBe('invalid ventilator option maxInFlight (JOBPIPE_MAX_IN_FLIGHT, --max-in-flight): 0 is outside 1..10000000');
    expect(refused({ leaseMs: 1.5 })).toMatch(/leaseMs .*"1.5" is not an integer/);
    expect(refused({ heartbeatMs: Number.NaN })).toMatch(/heartbeatMs .*NaN is not a finite number/);
    expect(refused({ maxJobsPerMessage: '5' })).toMatch(/maxJobsPerMessage .*"5" is not a number/);
    expect(refused({ jobsBind: 'localhost:5557' })).toMatch(/jobsBind .*is not a ZeroMQ endpoint/);
    expect(refused({ pipeline: {} })).toMatch(/option pipeline/);
    expect(refused({})).toBeUndefined();
  });
});
