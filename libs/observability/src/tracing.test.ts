import { describe, expect, it } from 'vitest';
import {
  formatTraceparent,
  jobSampled,
  parseTraceparent,
  sampleThreshold,
  samplerSettings,
  startTracing,
  traceIdLow,
  traceparentSampled,
  tracing,
  tracingWanted,
} from './tracing.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const TP = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('the per-job sampling decision', () => {
  const share = (ratio: number, trace = TRACE, jobs = 200_000, first = 0): number => {
    const low = traceIdLow(trace);
    const threshold = sampleThreshold(ratio);
    let sampled = 0;
    for (let seq = first; seq < first + jobs; seq++) if (jobSampled(low, seq, threshold)) sampled++;
    return sampled / jobs;
  };

  it('samples about the ratio of consecutive jobs, whatever the trace', () => {
    for (const trace of [TRACE, `${'0'.repeat(31)}1`, 'f'.repeat(32), 'ffffffffffffffffffffffff00000000']) {
      expect(share(0.01, trace)).toBeGreaterThan(0.009);
      expect(share(0.01, trace)).toBeLessThan(0.011);
      expect(share(0.5, trace)).toBeGreaterThan(0.49);
      expect(share(0.5, trace)).toBeLessThan(0.51);
    }
    // Seqs past 2^32 too.
    expect(share(0.1, TRACE, 100_000, 2 ** 40)).toBeGreaterThan(0.09);
    expect(share(0.1, TRACE, 100_000, 2 ** 40)).toBeLessThan(0.11);
  });

  it('samples every job at 1 and none at 0', () => {
    expect(share(1, TRACE, 10_000)).toBe(1);
    expect(share(0, TRACE, 10_000)).toBe(0);
    expect(sampleThreshold(2)).toBe(2 ** 32);
    expect(sampleThreshold(-1)).toBe(0);
  });

  it('decides the same for a job every time (all its attempts, every ventilator), and differently across batches', () => {
    const low = traceIdLow(TRACE);
    const threshold = sampleThreshold(0.05);
    const once = Array.from({ length: 5000 }, (_, seq) => jobSampled(low, seq, threshold));
    const again = Array.from({ length: 5000 }, (_, seq) => jobSampled(low, seq, threshold));
    expect(again).toEqual(once);
    const other = Array.from({ length: 5000 }, (_, seq) => jobSampled(traceIdLow('1'.repeat(32)), seq, threshold));
    expect(other).not.toEqual(once);
  });

  it('costs next to nothing: a million decisions well within 50 ms', () => {
    const low = traceIdLow(TRACE);
    const threshold = sampleThreshold(0.01);
    let sampled = 0;
    const started = performance.now();
    for (let seq = 0; seq < 1_000_000; seq++) if (jobSampled(low, seq, threshold)) sampled++;
    expect(performance.now() - started).toBeLessThan(50);
    expect(sampled).toBeGreaterThan(0);
  });
});

describe('the sampler settings', () => {
  it('reads OTEL_TRACES_SAMPLER and its argument, parent-based always on by default', () => {
    expect(samplerSettings({})).toEqual({ ratio: 1, parentBased: true });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' })).toEqual({ ratio: 0.01, parentBased: true });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' })).toEqual({ ratio: 0.5, parentBased: false });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio' })).toEqual({ ratio: 1, parentBased: false });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'always_off' })).toEqual({ ratio: 0, parentBased: false });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' })).toEqual({ ratio: 0, parentBased: true });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'always_on' })).toEqual({ ratio: 1, parentBased: false });
  });

  it('refuses an unknown sampler and a ratio outside 0 to 1', () => {
    expect(() => samplerSettings({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toThrow(/invalid OTEL_TRACES_SAMPLER/);
    expect(() => samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' })).toThrow(/invalid OTEL_TRACES_SAMPLER_ARG/);
    expect(() => samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' })).toThrow(/invalid OTEL_TRACES_SAMPLER_ARG/);
  });
});

describe('traceparent', () => {
  it('parses a version 00 traceparent and writes it back', () => {
    const parsed = parseTraceparent(TP, 'vendor=x');
    expect(parsed).toMatchObject({ traceId: TRACE, spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
    expect(parsed?.traceState?.serialize()).toBe('vendor=x');
    expect(formatTraceparent(parsed!)).toBe(TP);
    expect(traceparentSampled(TP)).toBe(true);
    expect(traceparentSampled(`${TP.slice(0, -2)}00`)).toBe(false);
  });

  it('refuses what is not one: other versions, upper case, all-zero ids', () => {
    for (const bad of [
      undefined,
      '',
      TP.toUpperCase(),
      `01${TP.slice(2)}`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `${TP}-x`,
    ])
      expect(parseTraceparent(bad)).toBeUndefined();
  });
});

describe('startTracing', () => {
  it('without an OTLP endpoint loads nothing and leaves tracing off', async () => {
    expect(tracingWanted({})).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).toBe(true);
    expect(await startTracing('worker', {})).toBeUndefined();
    expect(tracing()).toBeUndefined();
  });
});
