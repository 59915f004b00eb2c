import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '@jobpipe/launcher';
import { CANCEL_NOTICE_MS, PipelineControls } from './pipeline-controls.js';
import { connectRedis } from './redis-connection.js';
import { RedisLedger } from './redis-ledger.js';

let server: RedisServer;
let ledger: RedisLedger;

beforeAll(async () => {
  server = await RedisServer.start();
  ledger = new RedisLedger(connectRedis(server.url), 'test');
});
afterAll(async () => {
  ledger?.redis.disconnect();
  await server?.stop();
});

describe('PipelineControls', () => {
  it('keeps a pipeline paused or not, and its rate limit or none', async () => {
    const controls = new PipelineControls(ledger.redis, ledger.keys, 'p');
    expect(await controls.read()).toEqual({ paused: false, rateLimit: undefined, cancels: [] });
    await controls.setPaused(true);
    await controls.setRateLimit(25);
    expect(await controls.read()).toEqual({ paused: true, rateLimit: 25, cancels: [] });
    await controls.setPaused(false);
    await controls.setRateLimit(undefined);
    expect(await controls.read()).toEqual({ paused: false, rateLimit: undefined, cancels: [] });
  });

  it('lists the cancels of the last CANCEL_NOTICE_MS, oldest first, and forgets older ones', async () => {
    const controls = new PipelineControls(ledger.redis, ledger.keys, 'c');
    await controls.noteCancel({ batch: 'old' }, 1000);
    await controls.noteCancel({ batch: 'b1' }, CANCEL_NOTICE_MS + 5000);
    await controls.noteCancel({ batch: 'b2', seqs: [3, 9] }, CANCEL_NOTICE_MS + 6000);
    // Something another version wrote is left out, not thrown on.
    await ledger.redis.zadd(ledger.keys.cancels('c'), CANCEL_NOTICE_MS + 7000, 'not json');
    expect((await controls.read(CANCEL_NOTICE_MS + 8000)).cancels).toEqual([{ batch: 'b1' }, { batch: 'b2', seqs: [3, 9] }]);
    // The note of b1 trimmed the one from 1000 away.
    expect(await ledger.redis.zscore(ledger.keys.cancels('c'), JSON.stringify(['old', null]))).toBeNull();
  });

  it('hands out tokens that fill at the rate up to the burst, shared by every caller', async () => {
    const a = new PipelineControls(ledger.redis, ledger.keys, 'q');
    const b = new PipelineControls(ledger.redis, ledger.keys, 'q');
    expect(await a.takeTokens(100, 10, 8, 1000)).toBe(8); // a full bucket at first
    expect(await b.takeTokens(100, 10, 8, 1000)).toBe(2);
    expect(await a.takeTokens(100, 10, 8, 1000)).toBe(0);
    expect(await b.takeTokens(100, 10, 8, 1050)).toBe(5); // 50 ms at 100/s
    expect(await a.takeTokens(100, 10, 100, 60_000)).toBe(10); // never more than the burst
  });
});
