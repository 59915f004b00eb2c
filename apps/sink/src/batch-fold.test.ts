import { describe, expect, it } from 'vitest';
import { definePipeline } from '@jobpipe/pipeline';
import { BatchFold } from './batch-fold.js';

const sumOf = (collect: (result: number, ctx: { state: number }) => void | Promise<void>) =>
  new BatchFold('b', definePipeline({ name: 'sum', split: () => [], work: (n: number) => n, init: () => 0, collect }));

describe('BatchFold.collect', () => {
  it('folds a synchronous collect at once, without a promise', () => {
    const fold = sumOf((n, ctx) => void (ctx.state += n));
    expect(fold.collect(1, 5, 'w')).toBeUndefined();
    expect(fold.collect(2, 7, 'w')).toBeUndefined();
    expect(fold.state).toBe(12);
  });

  it('folds an asynchronous collect once its promise settles', async () => {
    const fold = sumOf(async (n, ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      ctx.state += n;
    });
    const pending = fold.collect(1, 5, 'w');
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(fold.state).toBe(5);
  });

  it('leaves the state as it was when collect throws or rejects, and passes the error on', async () => {
    const fold = sumOf((n, ctx) => {
      ctx.state = 999;
      if (n < 0) throw new Error('negative');
    });
    expect(() => fold.collect(1, -1, 'w')).toThrow('negative');
    expect(fold.state).toBe(0);
    const rejecting = sumOf(async (_n, ctx) => {
      ctx.state = 999;
      throw new Error('no');
    });
    await expect(rejecting.collect(1, 1, 'w')).rejects.toThrow('no');
    expect(rejecting.state).toBe(0);
  });
});
