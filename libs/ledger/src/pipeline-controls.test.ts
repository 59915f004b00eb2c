import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '@jobpipe/launcher';
import { PipelineControls } from './pipeline-controls.js';
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
    expect(await controls.read()).toEqual({ paused: false, rateLimit: undefined });
    await controls.setPaused(true);
    await controls.setRateLimit(25);
    expect(await controls.read()).toEqual({ paused: true, rateLimit: 25 });
    await controls.setPaused(false);
    await controls.setRateLimit(undefined);
    expect(await controls.read()).toEqual({ paused: false, rateLimit: undefined });
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
