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
