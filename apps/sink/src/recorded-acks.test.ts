import { describe, expect, it } from 'vitest';
import { RecordedAcks } from './recorded-acks.js';

const jobs = (...seqs: number[]) => seqs.map((seq) => ({ seq }));

describe('RecordedAcks', () => {
  it('sends the seqs of several rounds in one message per batch after the wait', async () => {
    const sent: [string, number[]][] = [];
    const acks = new RecordedAcks((batch, seqs) => sent.push([batch, seqs]), 20, 100);
    acks.add('a', jobs(1, 2));
    acks.add('b', jobs(7));
    acks.add('a', jobs(3));
    expect(sent).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent).toEqual([
      ['a', [1, 2, 3]],
      ['b', [7]],
    ]);
  });

  it('sends at once when enough seqs are waiting, and again only for what came after', async () => {
    const sent: [string, number[]][] = [];
    const acks = new RecordedAcks((batch, seqs) => sent.push([batch, seqs]), 20, 3);
    acks.add('a', jobs(1, 2));
    acks.add('a', jobs(3, 4));
    expect(sent).toEqual([['a', [1, 2, 3, 4]]]);
    acks.add('a', jobs(5));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent).toEqual([
      ['a', [1, 2, 3, 4]],
      ['a', [5]],
    ]);
  });

  it('flush sends what waits now, and nothing when nothing waits', () => {
    const sent: [string, number[]][] = [];
    const acks = new RecordedAcks((batch, seqs) => sent.push([batch, seqs]), 10_000, 100);
    acks.flush();
    expect(sent).toEqual([]);
    acks.add('a', jobs(9));
    acks.flush();
    acks.flush();
    expect(sent).toEqual([['a', [9]]]);
  });
});
