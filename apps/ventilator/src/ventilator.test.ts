import { afterEach, describe, expect, it } from 'vitest';
import { Dealer, Publisher, Pull } from 'zeromq';
import { OptionError } from '@jobpipe/config';
import { Metrics, metricValue } from '@jobpipe/observability';
import type { Pipeline } from '@jobpipe/pipeline';
import { decode, encode, type Message } from '@jobpipe/protocol';
import { Ventilator } from './ventilator.js';

const pipeline = {
  name: 'squares',
  split: function* (n: number) {
    for (let i = 0; i < n; i++) yield i;
  },
  work: (x: number) => x * x,
} as unknown as Pipeline;

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** The role in one process, over inproc: a fake sink (PULL, PUB) and a fake worker (DEALER). */
async function rig(name: string) {
  const endpoints = { jobsBind: `inproc://${name}-jobs`, resultsConnect: `inproc://${name}-results`, eventsConnect: `inproc://${name}-events` };
  const results = new Pull();
  const events = new Publisher();
  await results.bind(endpoints.resultsConnect);
  await events.bind(endpoints.eventsConnect);
  const metrics = new Metrics({ defaultMetrics: false });
  const ventilator = new Ventilator({ pipeline, ...endpoints, heartbeatMs: 100, metrics });
  await ventilator.start();
  const worker = new Dealer({ routingId: `${name}-worker`, linger: 0 });
  worker.connect(endpoints.jobsBind);
  closers.push(
    () => results.close(),
    () => events.close(),
    () => worker.close(),
    () => ventilator.stop(),
  );
  const next = async (socket: Pull | Dealer): Promise<Message> => {
    const [frame] = await socket.receive();
    const decoded = decode(frame!);
    if (!decoded.ok) throw decoded.error;
    return decoded.message;
  };
  return { ventilator, metrics, results, events, worker, next };
}

describe('Ventilator', () => {
  it('is built from a pipeline alone, every other option defaulted and checked', () => {
    const ventilator = new Ventilator({ pipeline });
    expect([ventilator.running, ventilator.inFlight, ventilator.workersConnected]).toEqual([false, 0, 0]);
    expect(() => new Ventilator({ pipeline, maxJobsPerMessage: 0 })).toThrow(OptionError);
  });

  it('runs a batch: BatchStart, jobs against credit, BatchEnd, and the summary once the sink says it is done', async () => {
    const { ventilator, metrics, events, results, worker, next } = await rig('run');
    await worker.send(encode({ type: 'Credit', worker: 'w', granted: 2, received: 0 }));
    while (ventilator.workersConnected === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const summary = ventilator.runBatch(3, 'b1');
    expect(await next(results)).toMatchObject({ type: 'BatchStart', batch: 'b1', pipeline: 'squares' });
    const first = await next(worker);
    expect(first).toMatchObject({
      type: 'Jobs',
      pipeline: 'squares',
      jobs: [
        { batch: 'b1', seq: 0, attempt: 1, payload: 0 },
        { seq: 1, payload: 1 },
      ],
    });
    expect(ventilator.inFlight).toBe(2);
    await worker.send(encode({ type: 'Credit', worker: 'w', granted: 3, received: 2 }));
    expect(await next(worker)).toMatchObject({ type: 'Jobs', jobs: [{ seq: 2, payload: 2 }] });
    expect(await next(results)).toMatchObject({ type: 'BatchEnd', batch: 'b1', jobs: 3 });
    const done = { batch: 'b1', pipeline: 'squares', jobs: 3, failed: 0, duplicates: 0, wallSeconds: 1, jobsPerSecond: 3, perWorker: { w: 3 }, answer: 5 };
    let finished = false;
    void summary.then(() => (finished = true));
    // PUB drops until the subscription has arrived: say it again until it is heard.
    while (!finished) {
      await events.send(encode({ type: 'Recorded', batch: 'b1', seqs: [0, 1, 2] }));
      await events.send(encode({ type: 'BatchCompleted', summary: done }));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await summary).toEqual(done);
    expect(ventilator.inFlight).toBe(0);
    expect(metricValue(await metrics.registry.metrics(), 'jobpipe_jobs_dispatched_total', { pipeline: 'squares' })).toBe(3);
  });

  it('answers Drain with the jobs it sent', async () => {
    const { worker, next } = await rig('drain');
    await worker.send(encode({ type: 'Drain', worker: 'w', received: 7 }));
    expect(await next(worker)).toEqual({ type: 'Drained', sent: 7 });
  });
});
