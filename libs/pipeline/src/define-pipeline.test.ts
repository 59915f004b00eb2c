import { describe, expect, it } from 'vitest';
import { definePipeline, PipelineError } from './define-pipeline.js';

const base = { name: 'ok', split: () => [], work: () => 1 };

describe('definePipeline', () => {
  it('returns a frozen definition', () => {
    const pipeline = definePipeline(base);
    expect(Object.isFrozen(pipeline)).toBe(true);
    expect(pipeline.name).toBe('ok');
  });

  it.each([
    [{ ...base, name: '' }, /name must be/],
    [{ ...base, name: 'has space' }, /name must be/],
    [{ ...base, split: 1 }, /split must be a function/],
    [{ ...base, work: undefined }, /work must be a function/],
    [{ ...base, collect: 'x' }, /collect must be a function/],
    [{ ...base, worker: { concurrency: 0 } }, /worker.concurrency/],
    [{ ...base, worker: { threads: -1 } }, /worker.threads/],
    [{ ...base, worker: { timeoutMs: 0 } }, /worker.timeoutMs/],
    [{ ...base, input: { parse: () => 1 } }, /input must be a Standard Schema/],
    [{ ...base, input: { '~standard': { version: 2, validate: () => ({ value: 1 }) } } }, /input must be a Standard Schema/],
  ])('rejects %o', (definition, message) => {
    expect(() => definePipeline(definition as never)).toThrow(PipelineError);
    expect(() => definePipeline(definition as never)).toThrow(message);
  });
});

describe('definePipeline: retry options', () => {
  it('takes retries, a backoff and its cap', () => {
    expect(definePipeline({ ...base, retries: 5, retryBackoffMs: 200, retryBackoffMaxMs: 60_000 })).toMatchObject({
      retries: 5,
      retryBackoffMs: 200,
      retryBackoffMaxMs: 60_000,
    });
    // A cap equal to the backoff, and a cap with the default backoff (1000 ms).
    expect(definePipeline({ ...base, retryBackoffMs: 500, retryBackoffMaxMs: 500 }).retryBackoffMaxMs).toBe(500);
    expect(definePipeline({ ...base, retryBackoffMaxMs: 1000 }).retryBackoffMaxMs).toBe(1000);
    expect(definePipeline({ ...base, retryBackoffMs: 0, retryBackoffMaxMs: 1 }).retryBackoffMaxMs).toBe(1);
  });

  it.each([
    [{ retries: -1 }, 'pipeline: retries must be an integer >= 0'],
    [{ retries: 1.5 }, 'pipeline: retries must be an integer >= 0'],
    [{ retryBackoffMs: -1 }, 'pipeline: retryBackoffMs must be an integer >= 0'],
    [{ retryBackoffMaxMs: 0 }, 'pipeline: retryBackoffMaxMs must be an integer >= 1'],
    [{ retryBackoffMaxMs: 2.5 }, 'pipeline: retryBackoffMaxMs must be an integer >= 1'],
    [{ retryBackoffMaxMs: '5m' }, 'pipeline: retryBackoffMaxMs must be an integer >= 1'],
    [{ retryBackoffMaxMs: Number.POSITIVE_INFINITY }, 'pipeline: retryBackoffMaxMs must be an integer >= 1'],
    [{ retryBackoffMs: 2000, retryBackoffMaxMs: 1000 }, 'pipeline: retryBackoffMaxMs (1000) must be at least retryBackoffMs (2000)'],
    [{ retryBackoffMaxMs: 999 }, 'pipeline: retryBackoffMaxMs (999) must be at least retryBackoffMs (1000, its default)'],
  ])('rejects %o', (options, message) => {
    expect(() => definePipeline({ ...base, ...options } as never)).toThrow(new PipelineError(message));
  });
});
