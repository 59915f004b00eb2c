import { describe, expect, it } from 'vitest';
import type { BatchSummary } from '@jobpipe/protocol';
import { BatchCompletions } from './batch-completions.js';

const summary = (batch: string) => ({ batch, pipeline: 'p', jobs: 1, failed: 0 }) as unknown as BatchSummary;

describe('BatchCompletions', () => {
  it('resolves each open batch with its own BatchCompleted, several at once', async () => {
    const done: string[] = [];
    const completions = new BatchCompletions({ durable: false, doneSummary: async () => null }, (batch) => done.push(batch));
    const a = completions.wait('a');
    const b = completions.wait('b');
    completions.completed(summary('zzz'));
    completions.completed(summary('b'));
    expect((await b).batch).toBe('b');
    expect(completions.size).toBe(1);
    completions.completed(summary('a'));
    expect((await a).batch).toBe('a');
    expect(done).toEqual(['b', 'a']);
  });

  it('with a durable ledger, reads the summary from it when the event was missed', async () => {
    let asked = 0;
    const ledger = { durable: true, doneSummary: async (batch: string) => (++asked >= 2 ? summary(batch) : null) };
    const completions = new BatchCompletions(ledger, undefined, 5);
    expect((await completions.wait('x')).batch).toBe('x');
    expect(asked).toBe(2);
    expect(completions.size).toBe(0);
  });

  it('waiting again on a batch waited on shares the first wait: one poll, one onDone, both resolved', async () => {
    const done: string[] = [];
    let asked = 0;
    const ledger = { durable: true, doneSummary: async (batch: string) => (++asked >= 3 ? summary(batch) : null) };
    const completions = new BatchCompletions(ledger, (batch) => done.push(batch), 5);
    const first = completions.wait('x');
    const second = completions.wait('x');
    expect(second).toBe(first);
    expect(completions.size).toBe(1);
    expect((await second).batch).toBe('x');
    // One poll only: a second timer would have asked on the same ticks.
    expect(asked).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(asked).toBe(3);
    expect(done).toEqual(['x']);
    expect(completions.size).toBe(0);
  });
});
