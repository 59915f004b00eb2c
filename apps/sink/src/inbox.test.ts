import { describe, expect, it } from 'vitest';
import type { JobResult } from '@jobpipe/protocol';
import { Inbox, type ResultPack, type SinkMessage } from './inbox.js';

const result = (batch: string, seq: number): JobResult => ({ batch, seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: seq });
const results = (worker: string, ...seqs: number[]): SinkMessage => ({ type: 'Results', pipeline: 'p', worker, results: seqs.map((seq) => result('b', seq)) });
const start = (batch: string): SinkMessage => ({ type: 'BatchStart', pipeline: 'p', batch, startedAt: 0 });
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

function recording(holdFirst: boolean) {
  const calls: string[] = [];
  let release!: () => void;
  let first = holdFirst;
  const inbox = new Inbox(
    {
      packs: async (packs: ResultPack[]) => {
        calls.push(`packs ${packs.map((p) => `${p.worker}:${p.results.map((r) => r.seq).join(',')}`).join(' ')}`);
        if (first) {
          first = false;
          await new Promise<void>((resolve) => (release = resolve));
        }
      },
      control: async (message) => void calls.push(`${message.type} ${message.batch}`),
    },
    3,
  );
  return { calls, inbox, release: () => release() };
}

describe('Inbox', () => {
  it('hands a lone message on at once', async () => {
    const { calls, inbox } = recording(false);
    await inbox.put(results('w1', 1));
    await inbox.idle();
    expect(calls).toEqual(['packs w1:1']);
  });

  it('hands on together what arrived while the previous round ran, control messages in their place', async () => {
    const { calls, inbox, release } = recording(true);
    void inbox.put(results('w1', 1));
    await tick();
    void inbox.put(results('w2', 2));
    void inbox.put(start('c'));
    void inbox.put(results('w1', 3, 4));
    release();
    await tick();
    await inbox.idle();
    expect(calls).toEqual(['packs w1:1', 'packs w2:2', 'BatchStart c', 'packs w1:3,4']);
  });

  it('makes put wait while full, until a round takes the messages, or the inbox closes', async () => {
    const { inbox, release } = recording(true);
    void inbox.put(results('w1', 1));
    await tick();
    let returned = 0;
    for (let seq = 2; seq <= 4; seq++) void inbox.put(results('w1', seq)).then(() => returned++);
    await tick();
    expect(returned).toBe(2); // the third made it full
    release();
    await tick();
    expect(returned).toBe(3);
    await inbox.idle();

    const second = recording(true);
    void second.inbox.put(results('w1', 1));
    await tick();
    void second.inbox.put(results('w1', 2));
    void second.inbox.put(results('w1', 3));
    const full = second.inbox.put(results('w1', 4));
    second.inbox.close();
    await full; // at once, though the round still runs
    second.release();
    await second.inbox.idle();
    expect(second.calls).toEqual(['packs w1:1', 'packs w1:2 w1:3 w1:4']);
  });
});
