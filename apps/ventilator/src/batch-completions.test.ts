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
});
