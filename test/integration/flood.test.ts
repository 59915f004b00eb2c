/**
 * A rogue peer floods the sink and the ventilator as fast as it can with oversized messages,
 * garbage, and well-formed results for batches that were never started or for jobs past the end
 * of a running batch. Memory must stay bounded, and the real batch must complete unharmed.
 * (With CURVE on, such a peer cannot even connect: curve.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { Dealer, Push } from 'zeromq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encode } from '@jobpipe/protocol';
import { Cleanup, echoPipeline, fetchText, metricValue, startBatch, waitFor } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

const LIMIT = 65_536;
const FLOOD_MS = 5000;

/** Resident and peak resident memory of a process, in MB. */
function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Sends messages from `next` until `until`, never more than 64 awaiting the socket; bytes sent. */
async function flood(socket: Push | Dealer, next: (i: number) => Buffer, until: number): Promise<number> {
  let bytes = 0;
  for (let i = 0; Date.now() < until; i++) {
    const message = next(i);
    await socket.send(message);
    bytes += message.length;
  }
  return bytes;
}

describe('a flood from a rogue peer', () => {
  it('does not grow the sink or the ventilator without bound, and the batch completes with every job once', async () => {
    const jobs = 4000;
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 2,
      input: { jobs, workMs: 1 },
      batchId: 'flooded',
      env: { JOBPIPE_MAX_MESSAGE_BYTES: String(LIMIT) },
    });
    const summary = events.completed('flooded', 90_000);
    const sinkPid = stack.sink.child.pid!;
    const ventilatorPid = stack.ventilator!.child.pid!;
    const before = { sink: memoryMb(sinkPid).rss, ventilator: memoryMb(ventilatorPid).rss };

    const oversized = Buffer.concat([Buffer.from([1, 2]), Buffer.alloc(LIMIT + 30_000, 0x7b)]); // over the codec's limit, under the socket's
    const garbage = Buffer.alloc(1000, 0xff);
    const result = (batch: string, seq: number) => ({
      batch,
      seq,
      attempt: 1,
      dispatchedAt: Date.now(),
      durationMs: 1,
      ok: true as const,
      value: 'x'.repeat(40),
    });
    const strangers = (i: number) =>
      encode({
        type: 'Results',
        pipeline: 'echo',
        worker: `rogue-${i}`,
        results: Array.from({ length: 200 }, (_, k) => result(`never-started-${i}`, k * 40_000)),
      });
    const pastTheEnd = (i: number) =>
      encode({
        type: 'Results',
        pipeline: 'echo',
        worker: 'rogue',
        results: Array.from({ length: 200 }, (_, k) => result('flooded', jobs + (i * 200 + k) * 40_000)),
      });
    const kinds = [() => oversized, () => garbage, strangers, pastTheEnd];

    const until = Date.now() + FLOOD_MS;
    const senders = [0, 1, 2].map((n) => {
      const socket = cleanup.socket(new Push({ linger: 0 }));
      socket.connect(stack.endpoints.resultsConnect);
      return flood(socket, (i) => kinds[(i + n) % kinds.length]!(i * 3 + n), until);
    });
    const toVentilator = cleanup.socket(new Dealer({ linger: 0, routingId: 'rogue' }));
    toVentilator.connect(stack.endpoints.jobsConnect);
    senders.push(flood(toVentilator, (i) => (i % 2 ? oversized : garbage), until));
    const sent = (await Promise.all(senders)).reduce((a, b) => a + b, 0);

    const done = await summary;
    expect(done).toMatchObject({ jobs, failed: 0, answer: { count: jobs } });
    // Results past the end of the batch are not recorded: they count as duplicates (orphans).
    expect(done.duplicates).toBeGreaterThan(0);
    expect(Object.keys(done.perWorker).sort()).toEqual(['worker-1', 'worker-2']);

    // The flood was real: hundreds of MB, each kind dropped and counted.
    expect(sent / 1e6, 'MB sent by the rogue').toBeGreaterThan(50);
    const sinkMetrics = await fetchText(stack.sink.url('/metrics'));
    for (const reason of ['too_large', 'unknown_version', 'unknown_batch']) {
      expect(metricValue(sinkMetrics, 'jobpipe_malformed_messages_total', { role: 'sink', reason }), reason).toBeGreaterThan(0);
    }
    await waitFor(
      'the ventilator to count the flood',
      async () =>
        (metricValue(await fetchText(stack.ventilator!.url('/metrics')), 'jobpipe_malformed_messages_total', { role: 'ventilator', reason: 'too_large' }) ??
          0) > 0,
    );

    // Bounded: the peaks stay within a fixed allowance over where they started, whatever was sent.
    const after = { sink: memoryMb(sinkPid), ventilator: memoryMb(ventilatorPid) };
    console.log(
      `flood: ${(sent / 1e6).toFixed(0)} MB sent; sink RSS ${before.sink.toFixed(0)} MB -> peak ${after.sink.peak.toFixed(0)} MB; ventilator ${before.ventilator.toFixed(0)} -> ${after.ventilator.peak.toFixed(0)} MB`,
    );
    expect(after.sink.peak - before.sink).toBeLessThan(150);
    expect(after.ventilator.peak - before.ventilator).toBeLessThan(150);
  });
});
