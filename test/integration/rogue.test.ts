/**
 * Bad input never kills a process (README, "Bad input never kills a process"; PROTOCOL.md section 6): a rogue peer
 * sends malformed messages to a running sink and to a running worker. Each is dropped, counted in
 * jobpipe_malformed_messages_total{role, reason} and logged; the real work goes on unharmed.
 */
import { Pull, Push, Router } from 'zeromq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, RoleProcess } from '@jobpipe/launcher';
import { decode, encode, encodeRaw, type Message } from '@jobpipe/protocol';
import {
  Cleanup,
  command,
  echoPipeline,
  fetchText,
  hostSettingsBlanked,
  logsOnce,
  metricValue,
  outputComplete,
  retryingPortClashes,
  startBatch,
  waitFor,
  within,
} from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

const LIMIT = 65_536;

/** A frame with a given header and a raw body. */
function frame(version: number, type: number, body: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([version, type]), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

/** Counts of jobpipe_malformed_messages_total{role} by reason. */
function malformedByReason(metrics: string, role: string, reasons: string[]): Record<string, number> {
  return Object.fromEntries(reasons.map((reason) => [reason, metricValue(metrics, 'jobpipe_malformed_messages_total', { role, reason }) ?? 0]));
}

/**
 * The process logged what it dropped, with the reason. (Not one line per message: PROTOCOL.md
 * says these logs SHOULD be rate-limited, so only "some, and each with a known reason".)
 */
async function expectLogged(process: RoleProcess, reasons: string[]): Promise<void> {
  const lines = await logsOnce(process, 'dropped a malformed message');
  for (const line of lines) expect(reasons).toContain(line.reason);
}

/** Collects what a socket receives, so a test can wait for a message matching a condition. */
class Inbox<T> {
  readonly items: T[] = [];
  readonly #loop: Promise<void>;
  constructor(source: AsyncIterable<Buffer[]>, map: (frames: Buffer[]) => T | undefined) {
    this.#loop = (async () => {
      try {
        for await (const frames of source) {
          const item = map(frames);
          if (item !== undefined) this.items.push(item);
        }
      } catch {
        // the socket was closed
      }
    })();
  }
  take(what: string, match: (item: T) => boolean, timeoutMs = 20_000): Promise<T> {
    return waitFor(
      what,
      () => {
        const index = this.items.findIndex(match);
        return index < 0 ? undefined : this.items.splice(index, 1)[0];
      },
      timeoutMs,
      10,
    );
  }
  async closed(): Promise<void> {
    await this.#loop;
  }
}

describe('malformed messages', () => {
  it('to the sink, during a batch: each dropped, counted by reason and logged; the batch completes right', async () => {
    const jobs = 2000;
    let done = 0;
    let total: number | null = null;
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 2,
      // Every role with the same small limit. Messages stay far below it: a worker's window is a
      // few dozen jobs here, so neither Jobs nor Results packs come near 64 KiB.
      env: { JOBPIPE_MAX_MESSAGE_BYTES: String(LIMIT) },
      input: { jobs, payloadBytes: 60, workMs: 2, spin: false },
      batchId: 'rogue-sink',
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '2' }),
      onProgress: (event) => {
        done = event.done;
        total = event.total;
      },
    });
    let completed = false;
    const summaryPromise = events.completed('rogue-sink', 45_000).then((summary) => {
      completed = true;
      return summary;
    });
    summaryPromise.catch(() => {});
    // The batch is under way: the sink has recorded results.
    await waitFor('first progress', () => done > 0);

    const rogue = cleanup.socket(new Push({ linger: 1000 }));
    rogue.connect(stack.endpoints.resultsConnect);
    const validResults = {
      pipeline: 'echo',
      worker: 'rogue',
      results: [{ batch: 'rogue-sink', seq: 1, attempt: 1, dispatchedAt: Date.now(), durationMs: 1, ok: true as const, value: 1 }],
    };
    const sent: [string, Buffer | Buffer[]][] = [
      ['too_short', Buffer.from([0x01, 0x02])],
      ['unknown_version', Buffer.from('garbage: this is no jobpipe message at all')],
      ['unknown_version', frame(0x02, 0x02, JSON.stringify(validResults))],
      ['unknown_type', frame(0x01, 0x7f, '{}')],
      ['unexpected_type', encode({ type: 'Credit', worker: 'rogue', granted: 5, received: 0 })],
      ['bad_json', frame(0x01, 0x02, '{"pipeline":"echo","worker":')],
      ['bad_json', frame(0x01, 0x02, Buffer.from([0xff, 0xfe, 0x7b, 0x7d]))],
      ['bad_fields', encodeRaw('Results', JSON.stringify({ ...validResults, results: [] }))],
      ['bad_fields', encodeRaw('Results', JSON.stringify({ ...validResults, results: [{ ...validResults.results[0], seq: -1 }] }))],
      ['bad_fields', encodeRaw('Results', JSON.stringify({ ...validResults, results: [{ ...validResults.results[0], ok: false }] }))],
      ['wrong_pipeline', encode({ type: 'Results', ...validResults, pipeline: 'other' })],
      // Between the limit and twice the limit: read, then dropped by the codec.
      ['too_large', frame(0x01, 0x02, Buffer.alloc(LIMIT + 10_000, 0x20))],
      ['bad_envelope', [encode({ type: 'Results', ...validResults }), Buffer.from('second frame')]],
    ];
    for (const [, message] of sent) await rogue.send(message);
    // More than twice the limit: libzmq cuts that connection as soon as it reads the frame's size
    // (nothing reaches the codec, nothing is counted). From a connection of its own, so that the
    // cut cannot touch the messages above.
    const brute = cleanup.socket(new Push({ linger: 1000 }));
    brute.connect(stack.endpoints.resultsConnect);
    await brute.send(frame(0x01, 0x02, Buffer.alloc(2 * LIMIT + 10_000, 0x20)));
    const stillRunning = !completed;
    const progressWhenSent = `${done}/${total ?? '?'}`;

    const expected: Record<string, number> = {};
    for (const [reason] of sent) expected[reason] = (expected[reason] ?? 0) + 1;
    const reasons = Object.keys(expected);
    const sinkMetrics = stack.sink.url('/metrics');
    // Counted as they arrive; wait for all of them (they travel on the rogue's own connection).
    await waitFor('every malformed message counted', async () => {
      const counts = malformedByReason(await fetchText(sinkMetrics), 'sink', reasons);
      return reasons.every((reason) => counts[reason]! >= expected[reason]!) ? counts : undefined;
    }).catch(() => {});
    expect(malformedByReason(await fetchText(sinkMetrics), 'sink', reasons)).toEqual(expected);

    const summary = await summaryPromise;
    expect(stillRunning, `the rogue sent while the batch ran (progress ${progressWhenSent})`).toBe(true);
    expect(summary).toMatchObject({ jobs, failed: 0, duplicates: 0 });
    expect(summary.answer).toEqual({ count: jobs, sum: (jobs * (jobs - 1)) / 2, failed: 0 });
    expect(Object.keys(summary.perWorker).sort()).toEqual(['worker-1', 'worker-2']);

    // Still alive, still serving, and it said what it dropped.
    expect(stack.sink.running).toBe(true);
    await expectLogged(stack.sink, reasons);
    // Nothing else in the stack saw anything malformed.
    for (const process of [stack.ventilator!, ...stack.workers]) {
      expect(metricValue(await fetchText(process.url('/metrics')), 'jobpipe_malformed_messages_total') ?? 0, process.name).toBe(0);
    }
  });

  it('to a worker, from a rogue ventilator: each dropped and counted; the worker lives on and runs valid jobs', async () => {
    // The test is the ventilator (ROUTER) and the sink (PULL).
    const router = cleanup.socket(new Router({ linger: 0 }));
    await router.bind('tcp://127.0.0.1:*');
    const pull = cleanup.socket(new Pull({ linger: 0 }));
    await pull.bind('tcp://127.0.0.1:*');
    type FromWorker = { routingId: Buffer; message: Message };
    const fromWorker = new Inbox<FromWorker>(router, ([routingId, body]) => {
      const decoded = decode(body!);
      return decoded.ok ? { routingId: routingId!, message: decoded.message } : undefined;
    });
    const results = new Inbox<Message>(pull, ([body]) => {
      const decoded = decode(body!);
      return decoded.ok ? decoded.message : undefined;
    });

    // Its metrics port may be taken before it binds it (see retryingPortClashes): then again.
    const worker = await retryingPortClashes('starting a worker', async () => {
      const worker = cleanup.role(
        new RoleProcess({
          role: 'worker',
          command,
          name: 'lone-worker',
          metricsPort: await freePort(),
          env: {
            ...hostSettingsBlanked(),
            JOBPIPE_PIPELINE: echoPipeline,
            JOBPIPE_JOBS_CONNECT: router.lastEndpoint!,
            JOBPIPE_RESULTS_CONNECT: pull.lastEndpoint!,
            JOBPIPE_WORKER_ID: 'lone-worker',
            JOBPIPE_MAX_MESSAGE_BYTES: String(LIMIT),
            JOBPIPE_CONCURRENCY: '2',
          },
        }),
      );
      await worker.ready;
      return worker;
    });
    const credit = await fromWorker.take('a Credit from the worker', (item) => item.message.type === 'Credit');
    const { routingId } = credit;
    // A version 2 Credit (PROTOCOL.md 3.3): the one lane of the one pipeline it serves.
    const granted = credit.message.type === 'Credit' && credit.message.version === 2 ? (credit.message.pipelines.echo?.granted ?? 0) : 0;
    expect(granted).toBeGreaterThanOrEqual(2);

    const job = (seq: number, i: number) => ({
      batch: 'rogue-worker',
      seq,
      attempt: 1,
      dispatchedAt: Date.now(),
      payload: { i, workMs: 0, spin: false, fail: false, pad: '' },
    });
    const validJobs = { pipeline: 'echo', jobs: [job(0, 40)] };
    const sent: [string, Buffer | Buffer[]][] = [
      ['too_short', Buffer.from([0x01])],
      ['unknown_version', Buffer.from('garbage: this is no jobpipe message at all')],
      ['unknown_version', frame(0x07, 0x01, JSON.stringify(validJobs))],
      ['unknown_type', frame(0x01, 0x00, '{}')],
      ['unexpected_type', encode({ type: 'BatchStart', batch: 'b', pipeline: 'echo', startedAt: Date.now() })],
      ['bad_json', frame(0x01, 0x01, '{"pipeline":"echo","jobs":[')],
      ['bad_json', frame(0x01, 0x01, '[1,2,3]')],
      ['bad_fields', encodeRaw('Jobs', JSON.stringify({ pipeline: 'echo', jobs: [] }))],
      ['bad_fields', encodeRaw('Jobs', JSON.stringify({ pipeline: 'echo', jobs: [{ ...job(0, 0), attempt: 0 }] }))],
      ['bad_fields', encodeRaw('Drained', JSON.stringify({ sent: 'many' }))],
      ['too_large', frame(0x01, 0x01, Buffer.alloc(LIMIT + 10_000, 0x20))],
      ['bad_envelope', [encode({ type: 'Jobs', ...validJobs }), Buffer.from('second frame')]],
    ];
    for (const [, message] of sent) await router.send([routingId, ...(Array.isArray(message) ? message : [message])]);
    // Then real work, within the credit the worker granted.
    await router.send([routingId, encode({ type: 'Jobs', pipeline: 'echo', jobs: [job(0, 40), job(1, 41)] })]);

    const expected: Record<string, number> = {};
    for (const [reason] of sent) expected[reason] = (expected[reason] ?? 0) + 1;
    const reasons = Object.keys(expected);

    // The valid jobs ran and their results reached "the sink".
    const values = new Map<number, unknown>();
    while (values.size < 2) {
      const message = await results.take('results of the valid jobs', (item) => item.type === 'Results');
      if (message.type !== 'Results') continue;
      expect(message.worker).toBe('lone-worker');
      for (const result of message.results) {
        expect(result).toMatchObject({ batch: 'rogue-worker', attempt: 1, ok: true });
        values.set(result.seq, result.ok ? result.value : undefined);
      }
    }
    expect(Object.fromEntries(values)).toEqual({ 0: 40, 1: 41 });

    // The malformed ones came before the valid jobs on the same connection: all are counted by now.
    const metrics = await fetchText(worker.url('/metrics'));
    expect(malformedByReason(metrics, 'worker', reasons)).toEqual(expected);
    expect(worker.running).toBe(true);
    await expectLogged(worker, reasons);
    // Dropped messages are not counted as received: its next Credit reports the 2 valid jobs only.
    const later = await fromWorker.take(
      'a Credit after the jobs',
      (item) => item.message.type === 'Credit' && item.message.version === 2 && (item.message.pipelines.echo?.received ?? 0) > 0,
    );
    expect(later.message).toMatchObject({ type: 'Credit', version: 2, worker: 'lone-worker', pipelines: { echo: { received: 2 } } });

    // It still shuts down cleanly: SIGTERM, Drain to its ventilator (us), Drained, exit 0.
    worker.child.kill('SIGTERM');
    const drain = await fromWorker.take('Drain', (item) => item.message.type === 'Drain');
    expect(drain.message).toMatchObject({ worker: 'lone-worker', received: 2 });
    await router.send([routingId, encode({ type: 'Drained', sent: 2 })]);
    expect((await within('worker exit', 15_000, worker.exited)).code).toBe(0);
    await outputComplete(worker);
    expect(worker.logs('worker drained')).toHaveLength(1);
    expect(worker.logs('drain timed out')).toHaveLength(0);
  });
});
