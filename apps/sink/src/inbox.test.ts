import { describe, expect, it } from 'vitest';
import type { JobResult } from '@jobpipe/protocol';
import { Inbox, type ResultPack, type SinkMessage } from './inbox.js';

const result = (batch: string, seq: number): JobResult => ({ batch, seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: seq });
const results = (worker: string, ...seqs: number[]): SinkMessage => ({ type: 'Results', pipeline: 'p', worker, results: seqs.map((seq) => result('b', seq)) });
const start = (batch: string): SinkMessage => ({ type: 'BatchStart', pipeline: 'p', batch, startedAt: 0 });
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

const MIB = 1024 * 1024;

function recording(holdFirst: boolean, limits = { maxQueued: 3, maxQueuedBytes: 1000 * MIB }) {
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
    limits,
  );
  return { calls, inbox, release: () => release() };
}

describe('Inbox', () => {
  it('hands a lone message on at once', async () => {
    const { calls, inbox } = recording(false);
    await inbox.put(results('w1', 1), 100);
    await inbox.idle();
    expect(calls).toEqual(['packs w1:1']);
  });

  it('hands on together what arrived while the previous round ran, control messages in their place', async () => {
    const { calls, inbox, release } = recording(true);
    void inbox.put(results('w1', 1), 100);
    await tick();
    void inbox.put(results('w2', 2), 100);
    void inbox.put(start('c'), 100);
    void inbox.put(results('w1', 3, 4), 100);
    release();
    await tick();
    await inbox.idle();
    expect(calls).toEqual(['packs w1:1', 'packs w2:2', 'BatchStart c', 'packs w1:3,4']);
  });

  it('makes put wait while full, until a round takes the messages, or the inbox closes', async () => {
    const { inbox, release } = recording(true);
    void inbox.put(results('w1', 1), 100);
    await tick();
    let returned = 0;
    for (let seq = 2; seq <= 4; seq++) void inbox.put(results('w1', seq), 100).then(() => returned++);
    await tick();
    expect(returned).toBe(2); // the third made it full
    release();
    await tick();
    expect(returned).toBe(3);
    await inbox.idle();

    const second = recording(true);
    void second.inbox.put(results('w1', 1), 100);
    await tick();
    void second.inbox.put(results('w1', 2), 100);
    void second.inbox.put(results('w1', 3), 100);
    const full = second.inbox.put(results('w1', 4), 100);
    second.inbox.close();
    await full; // at once, though the round still runs
    second.release();
    await second.inbox.idle();
    expect(second.calls).toEqual(['packs w1:1', 'packs w1:2 w1:3 w1:4']);
  });

  it('makes put wait while the messages waiting reach maxQueuedBytes, however few they are', async () => {
    const { calls, inbox, release } = recording(true, { maxQueued: 64, maxQueuedBytes: 3 * MIB });
    // The sink's receive loop: one put at a time, the next message read once put returns.
    let returned = 0;
    const loop = (async () => {
      for (let seq = 1; seq <= 10; seq++) {
        await inbox.put(results('w1', seq), MIB);
        returned++;
      }
    })();
    await tick();
    // 1 is being handed on; 2, 3 and 4 wait (3 MiB), and put(4) has not returned: 5 is not read.
    expect(returned).toBe(3);
    expect(calls).toEqual(['packs w1:1']);
    release();
    await loop;
    await inbox.idle();
    expect(calls[1]).toBe('packs w1:2 w1:3 w1:4');
    expect(calls.flatMap((call) => call.slice('packs '.length).split(' '))).toEqual(Array.from({ length: 10 }, (_, i) => `w1:${i + 1}`));
  });

  it('takes a message larger than maxQueuedBytes and hands it on: never a deadlock', async () => {
    const idle = recording(false, { maxQueued: 64, maxQueuedBytes: 3 * MIB });
    await idle.inbox.put(results('w1', 1), 10 * MIB); // returns: the round took it at once
    await idle.inbox.idle();
    expect(idle.calls).toEqual(['packs w1:1']);

    const { calls, inbox, release } = recording(true, { maxQueued: 64, maxQueuedBytes: 3 * MIB });
    void inbox.put(results('w1', 1), 100);
    await tick();
    let returned = false;
    const big = inbox.put(results('w1', 2), 10 * MIB).then(() => (returned = true));
    await tick();
    expect(returned).toBe(false); // alone past the budget: put waits for the round to take it
    release();
    await big;
    await inbox.idle();
    expect(calls).toEqual(['packs w1:1', 'packs w1:2']);
  });

  it("hands each pack on with its message's size on the wire", async () => {
    const packs: ResultPack[] = [];
    const inbox = new Inbox({ packs: async (p) => void packs.push(...p), control: async () => {} }, { maxQueued: 64, maxQueuedBytes: MIB });
    await inbox.put(results('w1', 1, 2), 321);
    await inbox.idle();
    expect(packs.map((p) => p.bytes)).toEqual([321]);
  });
});
