#!/usr/bin/env node
// usage: node bench/tracing-cost.mjs [--spans 20000] [--jobs 5000000]
// What tracing costs per job, in one process, apart from the machine's other work:
// - the per-job sampling decision (jobSampled), which every job pays when tracing is on;
// - one span as the roles make them (a child of a job's traceparent, five attributes, ended),
//   into a BatchSpanProcessor whose exporter discards, then into the OTLP/HTTP exporter sending
//   to a receiver in this process that reads and drops each export (JSON, as the roles send).
// CPU time (process.cpuUsage, every thread) per decision and per span, the export included.
import { otlpSink } from './otlp-sink.mjs';
import { parseArgs } from 'node:util';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { childSpan, jobSampled, sampleThreshold, SpanKind, traceIdLow, traceparentOf, tracingWith } from '@jobpipe/observability';

const { values: args } = parseArgs({ options: { spans: { type: 'string', default: '20000' }, jobs: { type: 'string', default: '5000000' } } });
const spans = Number(args.spans);
const jobs = Number(args.jobs);
const cpu = (since) => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

// The decision, at 1%.
const low = traceIdLow('4bf92f3577b34da6a3ce929d0e0e4736');
const threshold = sampleThreshold(0.01);
let sampled = 0;
const since = process.cpuUsage();
for (let seq = 0; seq < jobs; seq++) if (jobSampled(low, seq, threshold)) sampled++;
const decisionNs = (cpu(since) * 1000) / jobs;

async function spanCost(processor) {
  const tracing = await tracingWith('worker', { ratio: 1, parentBased: true }, processor);
  const start = process.cpuUsage();
  for (let i = 0; i < spans; i++) {
    const span = childSpan(tracing, 'handle echo', TRACEPARENT, SpanKind.CONSUMER, {
      'jobpipe.pipeline': 'echo',
      'jobpipe.batch': 'bench',
      'jobpipe.seq': i,
      'jobpipe.attempt': 1,
      'jobpipe.worker': 'worker-1',
    });
    span.end();
    traceparentOf(span);
    // Let the processor's timers and the exporter's requests run, as between a role's messages.
    if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
  }
  await tracing.shutdown();
  return cpu(start) / spans;
}

const sink = await otlpSink();
const discard = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
await spanCost(new BatchSpanProcessor(discard)); // warm-up
const spanUs = await spanCost(new BatchSpanProcessor(discard));
const exportedUs = await spanCost(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${sink.endpoint}/v1/traces` })));
await sink.close();
const perJobAt1Percent = (exportedUs * 1000) / 100 + decisionNs;
console.log(
  JSON.stringify({
    decisionNsPerJob: Number(decisionNs.toFixed(1)),
    sampledShare: sampled / jobs,
    spanUs: Number(spanUs.toFixed(1)),
    spanWithOtlpExportUs: Number(exportedUs.toFixed(1)),
    otlpBytesPerSpan: Math.round(sink.received.bytes / spans),
    perJobPerRoleAt1PercentNs: Math.round(perJobAt1Percent),
  }),
);
