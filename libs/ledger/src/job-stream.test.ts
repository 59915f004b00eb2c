import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '@jobpipe/launcher';
import { JobStream, parseJobId, readOutcomes, type StreamEntry } from './job-stream.js';
import { connectRedis, duplicateClient } from './redis-connection.js';
import { RedisLedger } from './redis-ledger.js';

let server: RedisServer;
let ledger: RedisLedger;
let pipelines = 0;
/** A stream of a pipeline no other test uses. */
const newStream = (options: ConstructorParameters<typeof JobStream>[3] = {}) => new JobStream(ledger.redis, ledger.keys, `p${++pipelines}`, options);
const jobsOf = (entries: StreamEntry[]) => entries.map((e) => (e.kind === 'job' ? `${e.bucket}:${e.seq}` : `close ${e.bucket} ${e.total}`));

beforeAll(async () => {
  server = await RedisServer.start();
  ledger = new RedisLedger(connectRedis(server.url), 'test');
});
afterAll(async () => {
  ledger?.redis.disconnect();
  await server?.stop();
});

describe('JobStream', () => {
  it('gives each job the next seq of its open bucket, one round trip for many', async () => {
    const stream = newStream();
    const added = await stream.add([{ payload: { n: 0 } }, { payload: { n: 1 } }, { payload: null }], 1_000_000);
    const bucket = parseJobId(added[0]!.id)!.bucket;
    expect(bucket).toMatch(new RegExp(`^${stream.pipeline}~f4240-1$`));
    expect(added).toEqual([0, 1, 2].map((seq) => ({ id: `${bucket}:${seq}`, added: true })));
    expect(await stream.waitingIn(bucket)).toBe(3);
  });

  it('rolls a bucket over when full or old, with a close entry after its jobs; a priority has buckets of its own', async () => {
    const stream = newStream({ bucketMaxJobs: 2, bucketMaxMs: 1000 });
    await stream.ensureGroup();
    const ids = (await stream.add([{ payload: 1 }, { payload: 2 }, { payload: 3 }, { payload: 4, priority: 1 }], 5000)).map((a) => a.id);
    const later = (await stream.add([{ payload: 5 }], 7000)).map((a) => a.id);
    const [b1, b2, p1, b3] = [ids[0], ids[2], ids[3], later[0]].map((id) => parseJobId(id!)!.bucket);
    expect(new Set([b1, b2, p1, b3]).size).toBe(4);
    expect(p1).toContain('~p1~');
    const reader = duplicateClient(ledger.redis);
    const entries = await stream.read(reader, 'v1', 100, 100);
    reader.disconnect();
    expect(jobsOf(entries)).toEqual([`${b1}:0`, `${b1}:1`, `close ${b1} 2`, `${b2}:0`, `${p1}:0`, `close ${b2} 1`, `${b3}:0`]);
    expect(entries.find((e) => e.kind === 'job' && e.bucket === p1)).toMatchObject({ priority: 1, payloadJson: '4' });
    expect(await stream.waitingIn(b2!)).toBe(1); // closed, its close entry not yet taken in
    await stream.closed(b2!);
    expect(await stream.waitingIn(b2!)).toBeUndefined();
    // No job rolls the last ones over: closeIdle does, once each is old enough.
    expect(await stream.closeIdle(5999)).toBe(0);
    expect(await stream.closeIdle(7500)).toBe(1); // the priority's, opened at 5000
    expect(await stream.closeIdle(8000)).toBe(1); // the last, opened at 7000
    expect(await stream.closeIdle(9000)).toBe(0);
  });

  it('measures what waits on the stream: its entries and the age of the oldest', async () => {
    const stream = newStream();
    expect(await stream.waiting(1000)).toEqual({ jobs: 0, oldestMs: 0 });
    await stream.add([{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const { jobs, oldestMs } = await stream.waiting(Date.now() + 5000);
    expect(jobs).toBe(3);
    expect(oldestMs).toBeGreaterThanOrEqual(5000);
    expect(oldestMs).toBeLessThan(10_000);
    // Read by a ventilator: its jobs now, no longer the stream's.
    await stream.ensureGroup();
    const reader = duplicateClient(ledger.redis);
    await stream.read(reader, 'v', 2, 100);
    reader.disconnect();
    expect((await stream.waiting()).jobs).toBe(1);
  });

  it('adds a job once per idempotency key, and tells which calls added nothing', async () => {
    const stream = newStream();
    const [a, b, c] = await stream.add([
      { payload: 1, key: 'k' },
      { payload: 2, key: 'k' },
      { payload: 3, key: 'other' },
    ]);
    expect([a!.added, b!.added, c!.added]).toEqual([true, false, true]);
    expect(b!.id).toBe(a!.id);
    expect((await stream.add([{ payload: 4, key: 'k' }]))[0]).toEqual({ id: a!.id, added: false });
    expect(await ledger.redis.xlen(stream.keys.stream)).toBe(2);
  });

  it('keeps a delayed job off the stream until it is due, with its id at once and its priority', async () => {
    const stream = newStream();
    await stream.ensureGroup();
    const [late, now] = await stream.add(
      [
        { payload: 'later', runAt: 5000, priority: 3 },
        { payload: 'now', runAt: 999 },
      ],
      1000,
    );
    expect(parseJobId(late!.id)!.seq).toBe(0);
    expect(await ledger.redis.xlen(stream.keys.stream)).toBe(1); // the one due already
    expect(await stream.promoteDue(10, 4999)).toBe(0);
    expect(await stream.promoteDue(10, 5000)).toBe(1);
    const reader = duplicateClient(ledger.redis);
    const entries = await stream.read(reader, 'v', 10, 100);
    reader.disconnect();
    expect(entries.map((e) => (e.kind === 'job' ? [e.payloadJson, e.priority] : []))).toEqual([
      ['"now"', undefined],
      ['"later"', 3],
    ]);
    expect(now!.id).not.toBe(late!.id);
  });

  it('hands entries a consumer read and never acknowledged to another after a while; acknowledged ones are gone', async () => {
    const stream = newStream();
    await stream.ensureGroup();
    await stream.add([{ payload: 1 }, { payload: 2 }]);
    const reader = duplicateClient(ledger.redis);
    const read = await stream.read(reader, 'gone', 10, 100);
    reader.disconnect();
    await stream.ack([read[0]!.entryId]);
    expect(await stream.claimStale('next', 60_000, 10)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(jobsOf(await stream.claimStale('next', 20, 10))).toEqual(jobsOf([read[1]!]));
    expect(await ledger.redis.xlen(stream.keys.stream)).toBe(1);
  });

  it('reads outcomes: a result, a dead letter with its last error, nothing yet', async () => {
    const batch = 'outcomes~1';
    await ledger.beginBatch(batch, 'p', 1000);
    const keys = ledger.keys.batch(batch);
    await ledger.redis.hset(keys.results, '0', '{"v":1}');
    await ledger.redis.hset(keys.dead, '1', '3|{}');
    await ledger.redis.hset(keys.errors, '1', '{"name":"RangeError","message":"no"}');
    expect(await readOutcomes(ledger.redis, keys, [0, 1, 2])).toEqual([
      { ok: true, value: { v: 1 } },
      { ok: false, error: { name: 'RangeError', message: 'no' } },
      undefined,
    ]);
  });

  it('parses job ids', () => {
    expect(parseJobId('thumbs~1a-2:17')).toEqual({ bucket: 'thumbs~1a-2', seq: 17 });
    expect(parseJobId('batch-7:3')).toEqual({ bucket: 'batch-7', seq: 3 });
    for (const bad of ['x', ':1', 'b:', 'b:-1', 'b:1.5']) expect(parseJobId(bad)).toBeUndefined();
  });
});
