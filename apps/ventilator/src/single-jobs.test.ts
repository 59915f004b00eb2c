import { describe, expect, it } from 'vitest';
import type { PendingJob, RedisClient, StreamEntry } from '@jobpipe/ledger';
import { createLogger } from '@jobpipe/observability';
import { SingleJobs } from './single-jobs.js';

const job = (entryId: string, bucket: string, seq: number, priority?: number): StreamEntry => ({
  entryId,
  kind: 'job',
  bucket,
  seq,
  payloadJson: `${seq}`,
  ...(priority === undefined ? {} : { priority }),
});
const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
/** Waits until `holds` (the room's loop and its acks run on timers: a busy machine delays them), at most 10 s. */
async function until(holds: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 10_000; !holds() && Date.now() < deadline; ) await tick();
}

/**
 * The room with a fake stream and a fake ventilator that records what it is told. Each read (and
 * each claim of stale entries) takes the next reply queued in `reads` (`claims`), or finds none;
 * an Error queued in `reads` is thrown by that read.
 */
function setup(entries: StreamEntry[], doneBuckets: string[] = [], o: { claims?: StreamEntry[][]; claimAfterMs?: number } = {}) {
  const calls: string[] = [];
  const acked: string[] = [];
  const reads: (StreamEntry[] | Error)[] = [entries];
  let groupsMade = 0;
  const claims = o.claims ?? [];
  let listener: ((batch: string, jobs: readonly PendingJob[]) => void) | undefined;
  const room = new SingleJobs({
    stream: {
      ensureGroup: async () => void groupsMade++,
      read: async () => {
        const reply = reads.shift();
        if (reply instanceof Error) throw reply;
        if (reply) return reply;
        await tick();
        return [];
      },
      claimStale: async () => claims.shift() ?? [],
      ack: async (ids) => void acked.push(...ids),
      closeIdle: async () => 0,
      promoteDue: async () => 0,
      closed: async (bucket) => void calls.push(`closed ${bucket}`),
    },
    reader: {} as RedisClient,
    consumer: 'v1',
    ventilator: {
      beginBucket: async (bucket, priority) => (calls.push(`begin ${bucket} ${priority}`), !doneBuckets.includes(bucket)),
      addJobs: (jobs) => void calls.push(`add ${jobs.map((j) => `${j.batch}:${j.seq}`).join(',')}`),
      endBucket: async (bucket, total) => void calls.push(`end ${bucket} ${total}`),
      mayAdd: () => true,
      roomChanged: async () => void (await tick()),
      onWrittenAhead: (fn) => void (listener = fn),
    },
    claimAfterMs: o.claimAfterMs ?? 60_000,
    readCount: 100,
    closeEveryMs: 60_000,
    logger: createLogger('test', 'silent'),
  });
  return {
    room,
    calls,
    acked,
    reads,
    groupsMade: () => groupsMade,
    writtenAhead: (batch: string, seqs: number[]) =>
      listener!(
        batch,
        seqs.map((seq) => ({ batch, seq, attempt: 1, payloadJson: '' })),
      ),
  };
}

describe('SingleJobs', () => {
  it('begins each bucket once with its priority, hands its jobs in, and ends it at its close entry', async () => {
    const { room, calls, acked } = setup([
      job('1-0', 'a', 0, 2),
      job('1-1', 'a', 1, 2),
      { entryId: '1-2', kind: 'close', bucket: 'a', total: 2 },
      job('1-3', 'b', 0),
    ]);
    await room.start();
    await until(() => calls.length >= 6);
    await room.stop();
    expect(calls).toEqual(['begin a 2', 'add a:0,a:1', 'end a 2', 'closed a', 'begin b undefined', 'add b:0']);
    expect(acked).toEqual(['1-2']); // the close entry; the jobs wait for their write-ahead
  });

  it('acknowledges job entries once their jobs are written ahead, and those of a bucket done already at once', async () => {
    const { room, calls, acked, writtenAhead } = setup([job('1-0', 'a', 0), job('1-1', 'a', 1), job('1-2', 'old', 5)], ['old']);
    await room.start();
    await until(() => acked.length >= 1 && calls.includes('add a:0,a:1'));
    expect(acked).toEqual(['1-2']);
    expect(calls).not.toContain('add old:5');
    writtenAhead('a', [1]);
    writtenAhead('elsewhere', [0]);
    await until(() => acked.length >= 2);
    expect(acked).toEqual(['1-2', '1-1']);
    writtenAhead('a', [0, 1]);
    await room.stop();
    expect(acked).toEqual(['1-2', '1-1', '1-0']);
  });

  it('begins a bucket again once Redis went back in time: when told, when entries come again, and for entries taken over', async () => {
    // Told (the ledger clock noticed): the next entry of a bucket begun before begins it again.
    const told = setup([job('1-0', 'a', 0)]);
    await told.room.start();
    await until(() => told.calls.includes('add a:0'));
    told.reads.push([job('1-1', 'a', 1)]);
    await until(() => told.calls.includes('add a:1'));
    told.room.beginAgain();
    told.reads.push([job('1-2', 'a', 2)]);
    await until(() => told.calls.includes('add a:2'));
    await told.room.stop();
    expect(told.calls).toEqual(['begin a undefined', 'add a:0', 'add a:1', 'begin a undefined', 'add a:2']);

    // An entry read as new with an id no newer than one read before: the consumer group's
    // position went back with Redis, and the buckets are begun again.
    const again = setup([job('5-0', 'a', 0), job('5-1', 'b', 0)]);
    await again.room.start();
    await until(() => again.calls.includes('add a:0,b:0'));
    again.reads.push([job('5-0', 'a', 0), job('6-0', 'b', 1)]);
    await until(() => again.calls.includes('add a:0,b:1'));
    again.reads.push([job('7-0', 'b', 2)]);
    await until(() => again.calls.includes('add b:2'));
    await again.room.stop();
    expect(again.calls).toEqual(['begin a undefined', 'begin b undefined', 'add a:0,b:0', 'begin a undefined', 'begin b undefined', 'add a:0,b:1', 'add b:2']);

    // Entries taken over from another consumer: their buckets are begun again, the others not.
    const claimed = setup([job('1-0', 'a', 0), job('1-1', 'b', 0)], [], { claims: [[], [job('0-9', 'a', 1)]], claimAfterMs: 40 });
    await claimed.room.start();
    await until(() => claimed.calls.includes('add a:1'));
    claimed.reads.push([job('2-0', 'b', 1)]);
    await until(() => claimed.calls.includes('add b:1'));
    await claimed.room.stop();
    expect(claimed.calls).toEqual(['begin a undefined', 'begin b undefined', 'add a:0,b:0', 'begin a undefined', 'add a:1', 'add b:1']);
  });

  it('makes the consumer group again when Redis lost it, and reads on', async () => {
    const { room, calls, reads, groupsMade } = setup([job('3-0', 'a', 0)]);
    await room.start();
    await until(() => calls.includes('add a:0'));
    expect(groupsMade()).toBe(1);
    // Redis went back to before the group was made: the next read fails, and the group is made again.
    reads.push(new Error("NOGROUP No such key 'jobs' or consumer group 'ventilators' in XREADGROUP with GROUP option"), [job('3-0', 'a', 0)]);
    await until(() => calls.filter((call) => call === 'add a:0').length === 2);
    await room.stop();
    expect(groupsMade()).toBe(2);
    // Read again from the group's start: the bucket was begun again.
    expect(calls).toEqual(['begin a undefined', 'add a:0', 'begin a undefined', 'add a:0']);
  });

  it('begins again at once a bucket whose jobs wait unwritten when Redis went back, before any entry is read again', async () => {
    // Told by the ledger clock: bucket a has jobs handed in and not written ahead, bucket b none.
    const told = setup([job('1-0', 'a', 0, 3), job('1-1', 'b', 0)]);
    await told.room.start();
    await until(() => told.calls.includes('add a:0,b:0'));
    told.writtenAhead('b', [0]);
    told.room.beginAgain();
    await until(() => told.calls.length >= 4);
    await told.room.stop();
    expect(told.calls).toEqual(['begin a 3', 'begin b undefined', 'add a:0,b:0', 'begin a 3']);

    // A lost consumer group whose entries are not read again (acknowledged meanwhile, as the jobs
    // were written ahead): their bucket is begun again all the same (redis-faults.test.ts lost
    // such jobs, written ahead into a bucket Redis had forgotten).
    const lost = setup([job('2-0', 'a', 0)]);
    await lost.room.start();
    await until(() => lost.calls.includes('add a:0'));
    lost.reads.push(new Error("NOGROUP No such key 'jobs' or consumer group 'ventilators' in XREADGROUP with GROUP option"));
    await until(() => lost.groupsMade() === 2 && lost.calls.length >= 3);
    await lost.room.stop();
    expect(lost.calls).toEqual(['begin a undefined', 'add a:0', 'begin a undefined']);
  });
});
