import { describe, expect, it } from 'vitest';
import { definePipeline, NonRetryableError } from '@jobpipe/pipeline';
import { describeError, forThread } from './errors.js';
import { createExecutor } from './executor.js';

const job = (payload: unknown) => ({ batch: 'b', seq: 7, attempt: 1, dispatchedAt: 0, payload });

describe('non-retryable failures in the worker', () => {
  it('describeError adds retryable false for a NonRetryableError or any error so marked, and nothing for others', () => {
    expect(describeError(new NonRetryableError('item 7 does not exist'))).toEqual({
      name: 'NonRetryableError',
      message: 'item 7 does not exist',
      retryable: false,
    });
    expect(describeError(Object.assign(new TypeError('bad data'), { retryable: false }))).toEqual({ name: 'TypeError', message: 'bad data', retryable: false });
    expect(describeError(new Error('boom'))).toEqual({ name: 'Error', message: 'boom' });
    expect(describeError(Object.assign(new Error('boom'), { retryable: true }))).toEqual({ name: 'Error', message: 'boom' });
    expect(describeError({ message: 'thrown object', retryable: false })).toEqual({ name: 'Error', message: 'thrown object', retryable: false });
    expect(describeError('text')).toEqual({ name: 'Error', message: 'text' });
  });

  it('a non-retryable error keeps its name and mark through the structured clone that brings it back from a worker thread', () => {
    class NotFound extends NonRetryableError {
      override name = 'NotFound';
    }
    const cloned = structuredClone(forThread(new NotFound('GET /items/7: 404')));
    expect(describeError(cloned)).toEqual({ name: 'NotFound', message: 'GET /items/7: 404', retryable: false });
    // Other errors cross as before.
    const plain = new RangeError('x');
    expect(forThread(plain)).toBe(plain);
  });

  it('the inline executor fails the job with retryable false, thrown or rejected', async () => {
    const pipeline = definePipeline({
      name: 't',
      split: () => [],
      work: (mode: string): Promise<unknown> => {
        if (mode === 'throw') throw new NonRetryableError('bad data');
        if (mode === 'reject') return Promise.reject(Object.assign(new Error('404'), { retryable: false }));
        throw new Error('transient');
      },
    });
    const executor = createExecutor({ pipeline, pipelinePath: '', threads: 0, timeoutMs: 1000, watchdog: false });
    try {
      expect(await executor.run(job('throw'))).toEqual({ ok: false, error: { name: 'NonRetryableError', message: 'bad data', retryable: false } });
      expect(await executor.run(job('reject'))).toEqual({ ok: false, error: { name: 'Error', message: '404', retryable: false } });
      expect(await executor.run(job('other'))).toEqual({ ok: false, error: { name: 'Error', message: 'transient' } });
    } finally {
      await executor.close();
    }
  });
});
