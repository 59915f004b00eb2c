import { describe, expect, it } from 'vitest';
import { definePipeline } from '@jobpipe/pipeline';
import { createExecutor } from './executor.js';

const job = (payload: unknown) => ({ batch: 'b', seq: 7, attempt: 2, dispatchedAt: 0, payload });

describe('inline executor', () => {
  const pipeline = definePipeline({
    name: 't',
    split: () => [],
    work: (payload: { mode: string }, ctx) => {
      if (payload.mode === 'throw') throw new RangeError('bad input');
      if (payload.mode === 'reject') return Promise.reject(new Error('async bad'));
      if (payload.mode === 'hang') return new Promise(() => {});
      if (payload.mode === 'listen')
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error(`saw ${ctx.signal.reason.name}`))));
      if (payload.mode === 'ctx') return { id: ctx.jobId, attempt: ctx.attempt };
      if (payload.mode === 'undefined') return undefined;
      return Promise.resolve(payload.mode);
    },
  });
  const executor = createExecutor({ pipeline, pipelinePath: '', threads: 0, timeoutMs: 100, watchdog: false });

  it('turns return values and throws into outcomes', async () => {
    expect(await executor.run(job({ mode: 'ok' }))).toEqual({ ok: true, value: 'ok' });
    expect(await executor.run(job({ mode: 'ctx' }))).toEqual({ ok: true, value: { id: 'b:7', attempt: 2 } });
    expect(await executor.run(job({ mode: 'undefined' }))).toEqual({ ok: true, value: null });
    expect(await executor.run(job({ mode: 'throw' }))).toEqual({ ok: false, error: { name: 'RangeError', message: 'bad input' } });
    expect(await executor.run(job({ mode: 'reject' }))).toEqual({ ok: false, error: { name: 'Error', message: 'async bad' } });
  });

  it('fails a handler that runs past its timeout', async () => {
    expect(await executor.run(job({ mode: 'hang' }))).toEqual({ ok: false, error: { name: 'TimeoutError', message: 'handler ran longer than 100 ms' } });
  });

  it('stops the running jobs a cancel picks: their signal aborts, and each ends at once as cancelled, not to be retried', async () => {
    const slow = createExecutor({ pipeline, pipelinePath: '', threads: 0, timeoutMs: 60_000, watchdog: false });
    const seen: string[] = [];
    const picked = slow.run({ ...job({ mode: 'listen' }), seq: 1 }) as Promise<unknown>;
    const other = slow.run({ ...job({ mode: 'listen' }), batch: 'other' }) as Promise<unknown>;
    void other.then(() => seen.push('other ended'));
    expect(slow.cancel((j) => j.batch === 'b')).toBe(1);
    expect(await picked).toEqual({ ok: false, error: { name: 'Cancelled', message: 'cancelled: job of batch b was cancelled', retryable: false } });
    expect(slow.cancel((j) => j.batch === 'b')).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toEqual([]);
    expect(slow.cancel(() => true)).toBe(1);
    await other;
    await slow.close();
  });
});
