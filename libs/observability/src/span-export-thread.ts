/**
 * The export thread (a `worker_threads` worker, one per role with tracing on): the OpenTelemetry
 * SDK's BatchSpanProcessor and OTLP/HTTP exporter, fed the role's finished spans as records.
 *
 * Why a thread: the SDK loaded into a busy role's main thread, and its span objects on that
 * heap, cost the role more than the spans' own work (docs/benchmarks.md, fifteenth and sixteenth
 * passes). Here the SDK has a heap of its own, and its work comes in batches, at a lower priority
 * than the role's (`workerData.nice`, see lowerPriority).
 *
 * Messages in: `{ spans: SpanRecord[] }`, `{ flush: id }` (answered `{ flushed: id }` once all
 * spans before it are exported or dropped), `{ shutdown: id }` (flushes, stops the exporter,
 * answers `{ flushed: id }`). The exporter reads the standard `OTEL_EXPORTER_OTLP_*` variables;
 * the processor, `OTEL_BSP_*`.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { readableSpans, type SpanRecord } from './span-records.js';
import { otlpProtocol } from './tracing-settings.js';

/**
 * Runs this thread at `nice` (Linux, where each thread has its own; elsewhere it runs as the
 * role's threads), or at the role's own when that is higher already: never above the role. On a
 * host whose cores the pipeline keeps busy, a thread waking to export would otherwise take a core
 * from a role's main thread for its few milliseconds, and hold up the pipeline for them; niced, it
 * runs when a core is free, and the pipeline keeps its pace (docs/benchmarks.md, twentieth pass).
 * Raising the value needs no privilege.
 */
function lowerPriority(nice: number): void {
  try {
    // This thread's id: the last part of /proc/thread-self, which links to /proc/<pid>/task/<tid>.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (getPriority(tid) < nice) setPriority(tid, nice);
  } catch {
    // Not Linux, or no /proc: the thread runs as the role's others.
  }
}

type Message = { spans: SpanRecord[] } | { flush: number } | { shutdown: number };

const port = parentPort;
if (!port) throw new Error('span-export-thread runs as a worker thread (tracing.ts starts it)');
const toSpan = readableSpans(String((workerData as { role: string }).role));
// Only the exporter asked for is loaded (protobuf costs this thread a little less than JSON).
const exporter: SpanExporter =
  otlpProtocol() === 'http/protobuf'
    ? new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()
    : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
const processor = new BatchSpanProcessor(exporter);
// Niced only now: loading the SDK is a one-off of a few hundred ms of CPU, which niced on a busy
// host would stretch over seconds, with the first spans queued behind it.
lowerPriority((workerData as { nice: number }).nice);

port.on('message', (message: Message) => {
  if ('spans' in message) {
    for (const record of message.spans) processor.onEnd(toSpan(record));
  } else if ('flush' in message) {
    // An export that failed has lost its spans (the SDK reports it through its diag logger);
    // the flush is answered all the same, and the thread goes on.
    void processor
      .forceFlush()
      .catch(() => {})
      .then(() => port.postMessage({ flushed: message.flush }));
  } else if ('shutdown' in message) {
    void processor
      .shutdown()
      .catch(() => {})
      .then(() => {
        port.postMessage({ flushed: message.shutdown });
        port.close();
      });
  }
});
