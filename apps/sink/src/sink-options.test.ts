import { describe, expect, it } from 'vitest';
import { definePipeline } from '@jobpipe/pipeline';
import { MemoryResultLedger } from '@jobpipe/ledger';
import { JobpipeError } from '@jobpipe/protocol';
import { OptionError } from '@jobpipe/config';
import { sinkSettings } from './settings.js';
import { compileSinkOptions, SINK_DEFAULTS, withDefaults } from './sink-options.js';

const pipeline = definePipeline({ name: 'p', split: () => [], work: (n: number) => n });

describe('SinkOptions', () => {
  it('withDefaults fills every field the embedder left out, and only those', () => {
    const ledger = new MemoryResultLedger();
    const o = withDefaults({ pipeline, ledger, maxOpenBatches: 5, progressEveryMs: undefined });
    expect(o.ledger).toBe(ledger);
    expect(o.maxOpenBatches).toBe(5);
    expect(o.progressEveryMs).toBe(SINK_DEFAULTS.progressEveryMs);
    expect(o.doneBatchesKept).toBe(10_000);
    expect(o.resultsBind).toBe('tcp://*:5558');
    expect(o.security.enabled).toBe(false);
    expect(o.metrics).toBeDefined();
    expect(o.logger).toBeDefined();
    expect(withDefaults({ pipeline }).ledger.durable).toBe(false);
  });

  it('takes the CLI settings defaults as its own, so the two cannot drift apart', () => {
    expect(SINK_DEFAULTS.resultsBind).toBe(sinkSettings.resultsBind.default);
    expect(SINK_DEFAULTS.eventsBind).toBe(sinkSettings.eventsBind.default);
    expect(SINK_DEFAULTS.maxMessageBytes).toBe(sinkSettings.maxMessageBytes.default);
  });

  it('compiles to a frozen object', () => {
    const o = compileSinkOptions({ pipeline });
    expect(Object.isFrozen(o)).toBe(true);
    expect(o.maxQueuedMessages).toBe(64);
    expect(o.maxQueuedBytes).toBe(32 * 1024 * 1024);
    expect(o.maxParkedBytes).toBe(16 * 1024 * 1024);
  });

  it.each([
    ['maxOpenBatches', { maxOpenBatches: 0 }],
    ['doneBatchesKept', { doneBatchesKept: 1.5 }],
    ['maxQueuedMessages', { maxQueuedMessages: -1 }],
    ['maxQueuedBytes', { maxQueuedBytes: 0 }],
    ['maxQueuedBytes', { maxQueuedBytes: 1.5 }],
    ['maxParkedResults', { maxParkedResults: -1 }],
    ['maxParkedBytes', { maxParkedBytes: -1 }],
    ['progressEveryMs', { progressEveryMs: Number.NaN }],
    ['reconcileEveryMs', { reconcileEveryMs: 0 }],
    ['maxMessageBytes', { maxMessageBytes: 10 }],
    ['resultsBind', { resultsBind: '' }],
  ])('refuses a bad %s with an OptionError naming it', (option, bad) => {
    let error: unknown;
    try {
      compileSinkOptions({ pipeline, ...bad });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(OptionError);
    expect(error).toBeInstanceOf(JobpipeError);
    expect((error as OptionError).option).toBe(option);
    expect((error as Error).message).toContain(`invalid sink option ${option}`);
  });

  it('refuses a missing pipeline', () => {
    expect(() => compileSinkOptions({} as never)).toThrow(OptionError);
  });

  it('takes 0 parked results (persistence off, nothing held for a late BatchStart)', () => {
    expect(compileSinkOptions({ pipeline, maxParkedResults: 0 }).maxParkedResults).toBe(0);
    expect(compileSinkOptions({ pipeline, maxParkedBytes: 0 }).maxParkedBytes).toBe(0);
  });
});
