/**
 * A rogue peer on the sink's results socket with persistence on, during a real batch: BatchStarts
 * and a BatchEnd of batches nobody started, a result whose value is nested deeper than
 * JSON.stringify can write, and results for seqs past the batch's end sent while the split still
 * runs (the total unknown). Before these were handled, the first filled the sink's book of open
 * batches until it recorded nothing, the second failed every record round from then on, and the
 * third counted toward the batch's end, which then completed with real jobs missing.
 */
import { Push } from 'zeromq';
import { describe, expect, it } from 'vitest';
import { encode, encodeRaw } from '@jobpipe/protocol';
import { echoPipeline, logsOnce, waitFor } from './helpers.js';
import { durableSuite, metric, startDurable } from './durable-helpers.js';

const suite = durableSuite('rogue-sink');

describe('a rogue peer on the sink, persistence on', () => {
  it('spoofed batch events, a value too deep to store and results past the end neither stop nor skew the batch', async () => {
    const jobs = 6000;
    const batch = 'real';
    // At most 100 jobs out: the split ends only near the batch's end, so the total stays unknown meanwhile.
    const d = await startDurable(suite.cleanup, { server: suite.server, pipeline: echoPipeline, workers: 2, env: { JOBPIPE_MAX_IN_FLIGHT: '100' } });
    await d.submit({ jobs, workMs: 1 }, batch);
    await waitFor('the batch under way', async () => ((await d.client.status('echo', batch))?.done ?? 0) > 0, 30_000);

    const rogue = suite.cleanup.socket(new Push({ linger: 1000 }));
    rogue.connect(d.stack.endpoints.resultsConnect);
    const spoofs = 300;
    for (let i = 0; i < spoofs; i++) await rogue.send(encode({ type: 'BatchStart', batch: `spoof-${i}`, pipeline: 'echo', startedAt: Date.now() }));
    await rogue.send(encode({ type: 'BatchEnd', batch: 'spoof-end', pipeline: 'echo', jobs: 5 }));
    const depth = 20_000;
    const deep = `{"pipeline":"echo","worker":"rogue","results":[{"batch":"${batch}","seq":${jobs + 500},"attempt":1,"dispatchedAt":0,"durationMs":1,"ok":true,"value":${'['.repeat(depth)}${']'.repeat(depth)}}]}`;
    await rogue.send(encodeRaw('Results', deep));
    const pastEnd = Array.from({ length: 50 }, (_, n) => ({
      batch,
      seq: jobs + n,
      attempt: 1,
      dispatchedAt: Date.now(),
      durationMs: 1,
      ok: true as const,
      value: { i: 1_000_000 },
    }));
    await rogue.send(encode({ type: 'Results', pipeline: 'echo', worker: 'rogue', results: pastEnd }));

    // They were recorded while the total was unknown: the case that let a batch complete short.
    const results = d.ledger.keys.batch(batch).results;
    await waitFor('the results past the end recorded', async () => (await d.redis.hexists(results, String(jobs))) === 1, 10_000);
    expect((await d.client.status('echo', batch))?.total).toBeNull();

    const summary = await d.done(batch, 90_000);
    expect(summary).toMatchObject({ jobs, failed: 0 });
    expect(summary.answer).toMatchObject({ count: jobs, sum: (jobs * (jobs - 1)) / 2 });
    expect(await d.redis.hexists(results, String(jobs))).toBe(0);
    const ventilatorLines = await logsOnce(
      d.stack.ventilator!,
      'results recorded for jobs past the end of the split were removed: a rogue or confused peer sent them',
    );
    expect(ventilatorLines.map((line) => line.removed)).toEqual([pastEnd.length]);
    // The sink had folded them: it folds the batch again, and blames no loss on Redis.
    await logsOnce(d.stack.sink, 'results past the end of the batch (a rogue or confused peer sent them) left the ledger: folded the batch again from it');
    expect(await metric(d.stack.sink, 'jobpipe_ledger_repairs_total', { kind: 'refold' })).toBe(0);

    expect(await metric(d.stack.sink, 'jobpipe_malformed_messages_total', { role: 'sink', reason: 'unknown_batch' })).toBe(spoofs + 1);
    expect(await metric(d.stack.sink, 'jobpipe_malformed_messages_total', { role: 'sink', reason: 'bad_fields' })).toBe(1);
    expect(d.stack.sink.running).toBe(true);
  });
});
