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

const cubes = {
  name: 'cubes',
  split: function* (n: number) {
    for (let i = 0; i < n; i++) yield i;
  },
  work: (x: number) => x * x * x,
} as unknown as Pipeline;

/** The role in one process, over inproc: a fake sink (PULL, PUB) and a fake worker (DEALER). */
async function rig(name: string, pipelines: Pipeline[] = [pipeline]) {
  const endpoints = { jobsBind: `inproc://${name}-jobs`, resultsConnect: `inproc://${name}-results`, eventsConnect: `inproc://${name}-events` };
  const results = new Pull();
  const events = new Publisher();
  await results.bind(endpoints.resultsConnect);
  await events.bind(endpoints.eventsConnect);
  const metrics = new Metrics({ defaultMetrics: false });
  const ventilator = new Ventilator({ pipelines, ...endpoints, heartbeatMs: 100, metrics });
  await ventilator.start();
  const dealer = (id: string) => {
    const socket = new Dealer({ routingId: `${name}-${id}`, linger: 0 });
    socket.connect(endpoints.jobsBind);
    closers.push(() => socket.close());
    return socket;
  };
  const worker = dealer('worker');
  closers.push(
    () => results.close(),
    () => events.close(),
    () => ventilator.stop(),
  );
  const next = async (socket: Pull | Dealer): Promise<Message> => {
    const [frame] = await socket.receive();
    const decoded = decode(frame!);
    if (!decoded.ok) throw decoded.error;
    return decoded.message;
  };
  /** Waits until the lane of `pipeline` has `count` workers. */
  const joined = async (pipeline: string, count = 1) => {
    while (ventilator.lane(pipeline).workersConnected < count) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  return { ventilator, metrics, results, events, worker, dealer, next, joined };
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

  it("serves several pipelines: a worker gets jobs only of the pipelines its Credit lists, against each one's credit", async () => {
    const { ventilator, metrics, results, dealer, next, joined } = await rig('lanes', [pipeline, cubes]);
    const both = dealer('both');
    const cubesOnly = dealer('cubes');
    const v2 = (worker: string, pipelines: Record<string, { granted: number; received: number }>) => encode({ type: 'Credit', version: 2, worker, pipelines });
    await both.send(v2('both', { squares: { granted: 2, received: 0 }, cubes: { granted: 1, received: 0 } }));
    await cubesOnly.send(v2('cubes-only', { cubes: { granted: 5, received: 0 } }));
    await joined('squares');
    await joined('cubes', 2);
    void ventilator.runBatch(3, 's1', { pipeline: 'squares' });
    void ventilator.runBatch(4, 'c1', { pipeline: 'cubes' });
    const got = { both: [] as Message[], cubesOnly: [] as Message[] };
    const jobsOf = (messages: Message[], pipeline: string) =>
      messages.flatMap((message) => (message.type === 'Jobs' && message.pipeline === pipeline ? message.jobs : [])).length;
    // squares: 2 to "both" (its credit), the third waits; cubes: 1 to "both", 3 to "cubes-only".
    while (jobsOf(got.both, 'squares') + jobsOf(got.both, 'cubes') < 3) got.both.push(await next(both));
    while (jobsOf(got.cubesOnly, 'cubes') < 3) got.cubesOnly.push(await next(cubesOnly));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(jobsOf(got.both, 'squares')).toBe(2);
    expect(jobsOf(got.both, 'cubes')).toBe(1);
    expect(jobsOf(got.cubesOnly, 'cubes')).toBe(3);
    expect(jobsOf(got.cubesOnly, 'squares')).toBe(0);
    expect([ventilator.lane('squares').inFlight, ventilator.lane('cubes').inFlight]).toEqual([2, 4]);
    const text = await metrics.registry.metrics();
    expect(metricValue(text, 'jobpipe_jobs_dispatched_total', { pipeline: 'squares' })).toBe(2);
    expect(metricValue(text, 'jobpipe_jobs_dispatched_total', { pipeline: 'cubes' })).toBe(4);
    // Each pipeline's batch was announced to the sink under its own name.
    const announced: Message[] = [];
    while (announced.filter((m) => m.type === 'BatchStart').length < 2) announced.push(await next(results));
    expect(
      announced
        .filter((m) => m.type === 'BatchStart')
        .map((m) => (m as { pipeline: string }).pipeline)
        .sort(),
    ).toEqual(['cubes', 'squares']);
    // A Drain is answered with what every lane sent the session: 2 + 1.
    await both.send(encode({ type: 'Drain', worker: 'both', received: 3 }));
    let answer = await next(both);
    while (answer.type !== 'Drained') answer = await next(both);
    expect(answer).toEqual({ type: 'Drained', sent: 3 });
  });

  it('refuses a version 1 Credit when it serves several pipelines, and ignores credit for a pipeline it does not serve', async () => {
    const { ventilator, metrics, dealer, next } = await rig('refusals', [pipeline, cubes]);
    const old = dealer('v1');
    const stranger = dealer('stranger');
    await old.send(encode({ type: 'Credit', worker: 'old', granted: 10, received: 0 }));
    await stranger.send(encode({ type: 'Credit', version: 2, worker: 'stranger', pipelines: { primes: { granted: 10, received: 0 } } }));
    const refused = async (reason: string) => metricValue(await metrics.registry.metrics(), 'jobpipe_credit_refused_total', { reason }) ?? 0;
    while ((await refused('v1_many_pipelines')) < 1 || (await refused('unknown_pipeline')) < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    expect([ventilator.lane('squares').workersConnected, ventilator.lane('cubes').workersConnected]).toEqual([0, 0]);
    void ventilator.runBatch(2, 's2', { pipeline: 'squares' });
    // Neither gets a job; each still has its Drain answered, with its own count.
    await old.send(encode({ type: 'Drain', worker: 'old', received: 0 }));
    expect(await next(old)).toEqual({ type: 'Drained', sent: 0 });
    await stranger.send(encode({ type: 'Drain', worker: 'stranger', received: 0 }));
    expect(await next(stranger)).toEqual({ type: 'Drained', sent: 0 });
    await expect(ventilator.runBatch(1, 'x1')).rejects.toThrow(/serves squares, cubes: name the pipeline/);
    await expect(ventilator.runBatch(1, 'x2', { pipeline: 'primes' })).rejects.toThrow(/does not serve pipeline primes/);
  });

  it('takes a version 1 Credit as credit for its one pipeline', async () => {
    const { ventilator, worker, next } = await rig('v1');
    await worker.send(encode({ type: 'Credit', worker: 'w', granted: 1, received: 0 }));
    while (ventilator.workersConnected === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    void ventilator.runBatch(1, 'v1b');
    expect(await next(worker)).toMatchObject({ type: 'Jobs', pipeline: 'squares', jobs: [{ batch: 'v1b', seq: 0 }] });
  });
});
