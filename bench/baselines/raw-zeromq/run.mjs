#!/usr/bin/env node
// Raw zeromq.js baseline: ventilator PUSH (bind) -> W workers PULL/PUSH (connect) -> sink PULL (bind).
// One job per message, every send awaited, default socket options: the plain floor.
// With --packed N (system raw-zeromq-packed): up to N jobs per message (a JSON array), and each
// worker answers a message with one message of its results: the limit of this stack, no
// persistence, no flow control. At --rate R a message holds the jobs due in its millisecond.
//   node bench/baselines/raw-zeromq/run.mjs --jobs N --workers W --payload-bytes B [--rate R] [--warmup-jobs K] [--work-ms M] [--packed N]
//   node bench/baselines/raw-zeromq/run.mjs --balance --jobs 3000 --workers 4 --work-ms 2 --slow-workers 2 --slow-factor 4
import { beside, coordinator, options } from '../common.mjs';

const o = options(undefined, { packs: true });
const system = o.balance ? 'raw-zeromq-balance' : o.packed ? 'raw-zeromq-packed' : 'raw-zeromq';
const c = coordinator(system);
if (o.balance && !(o.workMs > 0)) c.fail('--balance needs --work-ms > 0');
const file = (name) => beside(import.meta.url, name);
// The first --slow-workers workers spin work-ms * slow-factor per job, the others work-ms.
const workMs = Array.from({ length: o.workers }, (_, k) => (k < o.slowWorkers ? o.workMs * o.slowFactor : o.workMs));

const packed = o.packed ?? 0;
const sink = c.spawn('sink', file('sink.mjs'), { jobs: o.jobs, warmupJobs: o.warmupJobs, workers: o.workers, packed });
const vent = c.spawn('ventilator', file('ventilator.mjs'), { jobs: o.jobs, workers: o.workers, payloadBytes: o.payloadBytes, rate: o.rate, packed });
const [sinkBound, ventBound] = await Promise.all([c.message(sink, 'bound'), c.message(vent, 'bound')]);
const workers = workMs.map((ms, k) =>
  c.spawn(`w${k + 1}`, file('worker.mjs'), { ventilator: ventBound.endpoint, sink: sinkBound.endpoint, workMs: ms, packed }),
);
// The ventilator and the sink are ready once every worker has connected (ZMTP handshake done).
await Promise.all([sink, vent, ...workers].map((kid) => c.message(kid, 'ready')));
vent.proc.send({ type: 'go' });
const [{ firstAt }, summary] = await Promise.all([c.message(vent, 'produced', 3_600_000), c.results(sink, o.jobs)]);

if (!o.balance) {
  c.finish({ jobs: o.jobs, firstAt, summary });
} else {
  const stats = await Promise.all(workers.map((w) => (w.proc.send({ type: 'stats' }), c.message(w, 'stats'))));
  const r3 = (x) => Math.round(x * 1000) / 1000;
  c.finish({
    jobs: o.jobs,
    firstAt,
    summary,
    extra: {
      system,
      jobs: o.jobs,
      makespanSeconds: r3((summary.lastAt - firstAt) / 1000),
      idealSeconds: r3(o.jobs / workMs.reduce((sum, ms) => sum + 1 / ms, 0) / 1000),
      perWorker: Object.fromEntries(workers.map((w, k) => [w.name, stats[k].count])),
      busySeconds: Object.fromEntries(workers.map((w, k) => [w.name, r3(stats[k].busyMs / 1000)])),
    },
  });
}
