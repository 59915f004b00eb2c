import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerStores } from './stores.js';
import { BATCH, ok, PIPELINE, Rig } from './rig.js';

// A done batch does not stay forever on either store: memory keeps the last doneBatchesKept done
// batches, Redis a done batch's keys for its retention (JOBPIPE_RETENTION). Until then a late
// result is a duplicate; after, the batch is unknown and a late result an orphan that counts
// nowhere and brings nothing back.
describe.each(ledgerStores)('retention contract: $name', (store) => {
  beforeAll(() => store.setUp());
  afterAll(() => store.tearDown());

  it('forgets a done batch in the end (memory: after later ones; durable: after its retention); a late result then counts nowhere', async () => {
    const rig = new Rig(store, { retentionMs: 300, doneBatchesKept: 1 });
    await rig.begin();
    await rig.send(rig.fresh([0, 1]));
    await rig.end(2);
    await rig.report('w1', [ok(0), ok(1)]);
    expect(await rig.results.complete(BATCH, PIPELINE, rig.summary())).toBe(true);
    expect(await rig.results.knows(BATCH)).toBe(true);
    expect((await rig.report('w2', [ok(1, 'late')])).outcomes).toBe('D');

    if (store.durable) {
      await new Promise((resolve) => setTimeout(resolve, 400));
    } else {
      await rig.begin('b2');
      await rig.send(rig.fresh([0], 'b2'));
      await rig.end(1, 'b2');
      await rig.report('w1', [ok(0, 0, 1, 'b2')], 'b2');
      expect(await rig.results.complete('b2', PIPELINE, rig.summary(0, 'b2'))).toBe(true);
    }
    expect(await rig.results.knows(BATCH)).toBe(false);
    expect(await rig.results.counts(BATCH)).toBeUndefined();
    expect((await rig.results.record(BATCH, 'w2', [ok(1, 'later still')])).outcomes).toBe('O');
    expect(await rig.results.knows(BATCH)).toBe(false);
    expect(await rig.results.perWorker(BATCH)).toEqual({});
  });
});
