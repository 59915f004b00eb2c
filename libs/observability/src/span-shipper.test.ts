import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ThreadShipper } from './span-shipper.js';
import type { SpanRecord } from './span-records.js';
import { exportNice } from './tracing-settings.js';

const record = (spanId: string): SpanRecord => ({
  name: 'handle p',
  kind: 4,
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId,
  startMs: 1,
  endMs: 2,
  attributes: {},
  statusCode: 0,
});

describe('the export thread, when it fails', () => {
  it('costs the role one warning: spans are dropped from then on, and flushes and the shutdown still resolve', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      // A protocol the thread refuses: it throws as it starts (startTracing checks it before, in a role).
      const shipper = new ThreadShipper('worker', { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
      shipper.ship(record('00f067aa0ba902b7'));
      const flushed = shipper.flush();
      await once(process, 'warning');
      await flushed;
      shipper.ship(record('00f067aa0ba902b8'));
      await shipper.flush();
      await shipper.shutdown();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^jobpipe tracing: the export thread failed, spans are dropped from now on: /);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('the export thread, before any span', () => {
  it('is not started until the first span is shipped or start() is called: a flush before it resolves at once, and a shutdown before it starts none', async () => {
    // A protocol the thread refuses as it starts: nothing is sent anywhere, and a start shows as its warning.
    const env = { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
    const unused = new ThreadShipper('sink', env);
    await unused.flush();
    await unused.shutdown();
    unused.ship(record('00f067aa0ba902ba'));
    expect(unused.started).toBe(false);

    const shipper = new ThreadShipper('worker', env);
    await shipper.flush();
    expect(shipper.started).toBe(false);
    const warned = once(process, 'warning');
    shipper.ship(record('00f067aa0ba902b9'));
    expect(shipper.started).toBe(true);
    const [warning] = (await warned) as [Error];
    expect(warning.message).toMatch(/^jobpipe tracing: the export thread failed/);
    await shipper.shutdown();

    // start(): the thread now, before any span; never after a shutdown.
    const eager = new ThreadShipper('sink', env);
    const eagerWarned = once(process, 'warning');
    eager.start();
    expect(eager.started).toBe(true);
    await eagerWarned;
    await eager.shutdown();
    const shutDown = new ThreadShipper('sink', env);
    await shutDown.shutdown();
    shutDown.start();
    expect(shutDown.started).toBe(false);
  });
});

describe("the export thread's nice value", () => {
  it('is 10 unless JOBPIPE_TRACE_EXPORT_NICE gives one from 0 to 19', () => {
    expect(exportNice({})).toBe(10);
    expect(exportNice({ JOBPIPE_TRACE_EXPORT_NICE: ' ' })).toBe(10);
    expect(exportNice({ JOBPIPE_TRACE_EXPORT_NICE: '0' })).toBe(0);
    expect(exportNice({ JOBPIPE_TRACE_EXPORT_NICE: '19' })).toBe(19);
  });

  it('refuses a JOBPIPE_TRACE_EXPORT_NICE that is not a whole number from 0 to 19, at its start', () => {
    for (const bad of ['-5', '20', '2.5', 'low'])
      expect(() => new ThreadShipper('sink', { ...process.env, JOBPIPE_TRACE_EXPORT_NICE: bad })).toThrow(
        `invalid JOBPIPE_TRACE_EXPORT_NICE: ${JSON.stringify(bad)} is not a whole number from 0 to 19`,
      );
  });
});
