#!/usr/bin/env node
// usage: node bench/tracing-cost.mjs [--spans 50000] [--jobs 5000000]
// What tracing costs per job, in one process, apart from the machine's other work:
// - the per-job sampling decision (jobSampled), which every job pays when tracing is on;
// - one span as the roles make them (a child of a job's traceparent, five attributes, ended),
//   the roles' way: startTracing, spans made as records on the main thread, exported over
//   OTLP/HTTP by the export thread to a receiver in this process that reads and drops each
//   export (JSON, as the roles send).
// CPU time per decision and per span: for the span, of the whole process (the export thread
// and the receiver included) and of the main thread alone (from /proc, 10 ms ticks).
import { otlpSink } from './otlp-sink.mjs';
import { parseArgs } from 'node:util';
import { childSpan, jobSampled, sampleThreshold, SpanKind, startTracing, stopTracing, traceIdLow, traceparentOf } from '@jobpipe/observability';
import { readStat } from './process-cpu.mjs';

const { values: args } = parseArgs({ options: { spans: { type: 'string', default: '50000' }, jobs: { type: 'string', default: '5000000' } } });
const spans = Number(args.spans);
const jobs = Number(args.jobs);
if (!(Number.isInteger(spans) && spans > 0 && Number.isInteger(jobs) && jobs > 0)) {
  console.error('--spans and --jobs must be whole numbers above 0');
  process.exit(2);
}
const cpu = (since) => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};
const mainThreadMicros = () => readStat(`/proc/${process.pid}/task/${process.pid}/stat`).ticks * 10_000;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

// The decision, at 1%.
const low = traceIdLow('4bf92f3577b34da6a3ce929d0e0e4736');
const threshold = sampleThreshold(0.01);
let sampled = 0;
const since = process.cpuUsage();
for (let seq = 0; seq < jobs; seq++) if (jobSampled(low, seq, threshold)) sampled++;
const decisionNs = (cpu(since) * 1000) / jobs;

async function spanCost(tracing, count) {
  const start = process.cpuUsage();
  const mainStart = mainThreadMicros();
  for (let i = 0; i < count; i++) {
    const span = childSpan(tracing, 'handle echo', TRACEPARENT, SpanKind.CONSUMER, {
      'jobpipe.pipeline': 'echo',
      'jobpipe.batch': 'bench',
      'jobpipe.seq': i,
      'jobpipe.attempt': 1,
      'jobpipe.worker': 'worker-1',
    });
    span.end();
    traceparentOf(span);
    // Paced as a role is (it never makes spans faster than they are exported), and with the
    // event loop let run between, as between a role's messages.
    if (i % 2000 === 1999) await tracing.flush();
    else if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
  }
  await tracing.flush();
  return { all: cpu(start) / count, main: (mainThreadMicros() - mainStart) / count };
}

const sink = await otlpSink();
const tracing = await startTracing('worker', { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_TRACES_SAMPLER: 'always_on' });
await spanCost(tracing, Math.ceil(spans / 10)); // warm-up
const bytesBefore = sink.received.bytes;
const cost = await spanCost(tracing, spans);
const bytesPerSpan = (sink.received.bytes - bytesBefore) / spans;
await stopTracing();
await sink.close();
const perJobAt1Percent = (cost.all * 1000) / 100 + decisionNs;
console.log(
  JSON.stringify({
    decisionNsPerJob: Number(decisionNs.toFixed(1)),
    sampledShare: sampled / jobs,
    spanWithOtlpExportUs: Number(cost.all.toFixed(1)),
    spanMainThreadUs: Number(cost.main.toFixed(1)),
    otlpBytesPerSpan: Math.round(bytesPerSpan),
    perJobPerRoleAt1PercentNs: Math.round(perJobAt1Percent),
  }),
);
