import { RecordOutcome, type BatchCounts, type Recording } from '@jobpipe/ledger';
import { WireErrorName, type JobResult } from '@jobpipe/protocol';
import { sampledParent, SpanKind, tracing, type Span, type SpanRecord, type Tracing } from '@jobpipe/observability';
import type { BatchBook } from './batch-book.js';
import type { BatchFold } from './batch-fold.js';
import type { ResultPack } from './inbox.js';
import type { ParkedResults, RecordGroup } from './parked-results.js';
import type { RecordedAcks } from './recorded-acks.js';
import { retrying } from './retrying.js';
import type { CompiledSinkOptions } from './sink-options.js';

/** What the recorder works with besides the sink's options. */
export interface RecorderNeighbours {
  book: BatchBook;
  acks: Pick<RecordedAcks, 'add'>;
  parked: ParkedResults;
  /** Drops a group of a batch nobody knows (jobpipe_malformed_messages_total, reason unknown_batch). */
  unknownBatch(detail: string): void;
  /** Counts results whose value could not be stored (jobpipe_malformed_messages_total, reason bad_fields). */
  unstorable(detail: string): void;
  /** False once the sink stops: a failing ledger call is then given up. */
  running(): boolean;
}

type RecorderOptions = Pick<CompiledSinkOptions, 'pipeline' | 'ledger' | 'logger' | 'metrics'>;
/** Where a group's batch stood when its round began: its fold open (collect into it), or done. */
type Before = { fold: BatchFold | undefined; done: boolean };
const ALL_ORPHANS = new RegExp(`^${RecordOutcome.Orphan}+$`);
/** Worker ids with a label of their own on the sink's metrics, per pipeline; later ones are counted as OTHER_WORKERS. */
export const MAX_WORKER_LABELS = 1000;
const OTHER_WORKERS = 'other';
/** Not a span (W3C Trace Context): a handler span naming it as its parent is not exported. */
const ZERO_SPAN_ID = '0'.repeat(16);
/** The last time a JavaScript Date holds: a handler span that would end later is not exported (nor its times turned into nonsense). */
const LAST_EPOCH_MS = 8.64e15;

/**
 * The worker's span of the handler run that made `result`, as the worker would have made it, or
 * undefined when the result brought none, or one not to export. The worker sends its parts with
 * the result (PROTOCOL.md 3.2, "The handler's span") and leaves the export to the sink; its ids
 * are the ones the result's traceparent names.
 */
export function handlerSpanRecord(
  pipeline: string,
  result: JobResult,
  { traceId, spanId }: { traceId: string; spanId: string },
  attributes: SpanRecord['attributes'],
): SpanRecord | undefined {
  if (result.handlerSpan === undefined) return undefined;
  const { parentSpanId, startedAt } = result.handlerSpan;
  if (parentSpanId === ZERO_SPAN_ID || startedAt + result.durationMs > LAST_EPOCH_MS) return undefined;
  const record: SpanRecord = {
    role: 'worker',
    name: `handle ${pipeline}`,
    kind: SpanKind.CONSUMER,
    traceId,
    spanId,
    parentSpanId,
    parentRemote: true,
    startMs: startedAt,
    endMs: startedAt + result.durationMs,
    attributes,
    statusCode: result.ok ? 0 : 2,
  };
  if (!result.ok) record.statusMessage = `${result.error.name}: ${result.error.message}`.slice(0, 1000);
  if (result.tracestate !== undefined) record.traceState = result.tracestate;
  return record;
}

/**
 * Records each result once (one ledger call per batch and worker, a round at a time), folds the
 * newly recorded ones into their batch (through the BatchBook), counts them and acks them. The
 * only room that calls `ledger.record`; touches the ledger otherwise only to ask whether it
 * knows a batch.
 */
export class Recorder {
  readonly #o: RecorderOptions;
  readonly #n: RecorderNeighbours;
  readonly #latency: { observe(seconds: number): void };
  readonly #labels: { pipeline: string };
  /** The worker ids that have a metrics label of their own (#workerLabel). */
  readonly #workerLabels = new Set<string>();
  /** This process's tracing (OTEL_EXPORTER_OTLP_ENDPOINT), or undefined: then no result costs anything for it. */
  readonly #tracing: Tracing | undefined = tracing();

  constructor(options: RecorderOptions, neighbours: RecorderNeighbours) {
    this.#o = options;
    this.#n = neighbours;
    this.#labels = { pipeline: options.pipeline.name };
    this.#latency = options.metrics.jobLatency.labels(this.#labels);
  }

  /** Records the packs that arrived together. */
  async record(packs: ResultPack[]): Promise<void> {
    // One group per batch and worker: the ledger counts results per worker. A pack is almost
    // always of one batch, so the group is looked up only when the batch changes.
    const groups = new Map<string, Map<string, RecordGroup>>();
    // Tracing on: a span for each traced result's record (PROTOCOL.md 3.1, "Trace context").
    const spans = this.#tracing && this.#recordSpans(packs);
    for (const { worker, results, bytes } of packs) {
      // Each result's share of its message's wire size: what a parked group is reckoned to hold.
      const share = bytes / results.length;
      let group: RecordGroup | undefined;
      for (const result of results) {
        if (group?.batch !== result.batch) {
          let byWorker = groups.get(result.batch);
          if (!byWorker) groups.set(result.batch, (byWorker = new Map()));
          group = byWorker.get(worker);
          if (!group) byWorker.set(worker, (group = { batch: result.batch, worker, results: [], bytes: 0 }));
        }
        group.results.push(result);
        group.bytes += share;
      }
    }
    const grouped = [...groups.values()].flatMap((byWorker) => [...byWorker.values()]);
    if (!spans) return this.recordGroups(grouped);
    try {
      await this.recordGroups(grouped);
    } catch (error) {
      for (const span of spans) span.setStatus({ code: 2, message: String((error as Error)?.message ?? error) });
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
  }

  /**
   * The record spans of the traced results among these packs (a sampled few), or undefined when
   * there is none. A result that brought its worker's handler span has that exported here too.
   */
  #recordSpans(packs: ResultPack[]): Span[] | undefined {
    const t = this.#tracing;
    if (!t) return undefined;
    let spans: Span[] | undefined;
    const pipeline = this.#o.pipeline.name;
    for (const { worker, results } of packs) {
      for (const result of results) {
        const parent = sampledParent(result.traceparent, result.tracestate);
        if (!parent) continue;
        const attributes = {
          'jobpipe.pipeline': pipeline,
          'jobpipe.batch': result.batch,
          'jobpipe.seq': result.seq,
          'jobpipe.attempt': result.attempt,
          'jobpipe.worker': worker,
          'jobpipe.ok': result.ok,
        };
        const handler = handlerSpanRecord(pipeline, result, parent, { ...attributes });
        if (handler) t.exportSpan(handler);
        (spans ??= []).push(t.startSpan(`record ${pipeline}`, SpanKind.CONSUMER, attributes, parent));
      }
    }
    return spans;
  }

  /** Records the results parked for a batch that has just started. */
  release(batch: string): Promise<void> {
    return this.recordGroups(this.#n.parked.take(batch));
  }

  async recordGroups(groups: RecordGroup[]): Promise<void> {
    let pending = await this.#admit(groups);
    const { book } = this.#n;
    await this.#retry(() =>
      book.serially(async () => {
        const folds = await Promise.all(pending.map((group) => book.openFold(group.batch)));
        const before: Before[] = pending.map((group, i) => ({ fold: folds[i], done: book.isDone(group.batch) }));
        // Every record call of the round goes out before any reply is awaited (one round trip
        // for the round), and the replies are settled in the order the calls went out, which is
        // the order Redis ran them in: a reply whose counts say the batch is complete comes after
        // every call it counts, so their results are folded before it completes (ef9c3d1: a
        // batch completed with 198,231 of 200,000 results folded when calls went out apart).
        const recordings = await Promise.allSettled(pending.map((group) => this.#o.ledger.record(group.batch, group.worker, group.results)));
        const failed: RecordGroup[] = [];
        let failure: unknown;
        for (let i = 0; i < pending.length; i++) {
          const recording = recordings[i]!;
          const settled =
            recording.status === 'fulfilled'
              ? await this.#settle(pending[i]!, before[i]!, recording.value).catch((error: unknown) => ({ error }))
              : { error: recording.reason };
          if (settled && 'error' in settled) {
            failed.push(pending[i]!);
            failure ??= settled.error;
            if (settled.error instanceof RangeError) this.#failUnstorable(pending[i]!);
          } else if (settled) {
            // Not awaited: a completion runs beside the next rounds (BatchBook.#completeOnce), so
            // the recording of other batches does not wait for its round trips. One that fails is
            // completed by the reconciler, which finds every batch whose jobs are all done.
            book
              .afterRecording(settled.fold, settled.counts, settled.now, settled.readBack)
              .catch((error: unknown) => this.#o.logger.warn({ err: error, batch: settled.fold.id }, 'completing the batch failed; the reconciler will'));
          }
        }
        // Only the groups that failed go again: the others are recorded, folded and acked. A
        // record call sent again is answered as the first was (record-9.lua), so its results
        // are not taken for duplicates.
        pending = failed;
        if (failure !== undefined) throw failure;
      }),
    );
  }

  /**
   * Persistence off: holds back the results of batches neither this sink nor its ledger knows
   * (an in-process question). A result can overtake its batch's BatchStart (they travel on
   * different connections), so a few are parked until it comes; the rest are dropped
   * unacknowledged, and their leases bring back any that were real. A known batch is opened
   * here, before its results are recorded: the memory ledger keeps no values to read back.
   * Durable: nothing here; see #settle.
   */
  async #admit(groups: RecordGroup[]): Promise<RecordGroup[]> {
    const { book } = this.#n;
    if (this.#o.ledger.durable) return groups;
    const known: RecordGroup[] = [];
    for (const group of groups) {
      if (book.openFold(group.batch) || book.isDone(group.batch)) known.push(group);
      else if (await this.#o.ledger.knows(group.batch)) {
        await this.#retry(async () => void (await book.fold(group.batch)));
        known.push(group);
      } else if (!this.#n.parked.park(group)) this.#unknown(group);
    }
    return known;
  }

  /**
   * Folds, counts and acks what the ledger did with a group. A batch that was open before the
   * round has its new results collected one by one. One that was not (durable: a batch this
   * sink has not seen since it started, or a done batch that runs again) is opened now, after
   * recording, from what the ledger holds, these results included: each recorded result is
   * folded once, and the fold is read back at most once. A group of nothing but orphans for a
   * batch this sink has not seen is asked about: the ventilator opens every batch in Redis
   * before its first job leaves, so an unknown one comes from a rogue or confused peer, and
   * folding it would let it grow the sink's memory at will; dropped.
   */
  async #settle(
    group: RecordGroup,
    before: Before,
    recording: Recording,
  ): Promise<{ fold: BatchFold; counts: BatchCounts; now: number; readBack: boolean } | undefined> {
    const { metrics, pipeline, ledger, logger } = this.#o;
    const { batch, worker, results } = group;
    const { outcomes, counts } = recording;
    let fold = before.fold;
    if (!fold) {
      if (before.done || this.#n.book.isDone(batch)) {
        // A late duplicate for a done batch (maybe done by an earlier group of this round) needs
        // no fold; a recording there is a `dead retry`.
        if (/[RX]/.test(outcomes)) fold = await this.#n.book.reopen(batch);
      } else if (ALL_ORPHANS.test(outcomes) && !(await ledger.knows(batch))) {
        this.#unknown(group);
        return undefined;
      } else {
        fold = await this.#n.book.fold(batch);
      }
    }
    const collecting = fold !== undefined && fold === before.fold;
    const now = Date.now();
    let completed = 0;
    let failed = 0;
    let dead = 0;
    let duplicates = 0;
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      const outcome = outcomes[i];
      if (!result.ok) failed++;
      if (outcome === RecordOutcome.Recorded) {
        this.#latency.observe(Math.max(0, now - result.dispatchedAt) / 1000);
        if (result.ok) {
          completed++;
          const collected = collecting ? this.#n.book.collect(fold!, result.seq, result.value, worker) : undefined;
          if (collected) await collected;
        }
      } else if (outcome === RecordOutcome.DeadLetter) {
        dead++;
        logger.error({ batch, job: `${batch}:${result.seq}`, attempt: result.attempt, error: result.ok ? undefined : result.error }, 'dead letter');
      } else if (outcome === RecordOutcome.Duplicate || outcome === RecordOutcome.Orphan) {
        duplicates++;
      }
    }
    if (fold) fold.duplicates += duplicates;
    // Counted once per pack, not per result: label lookups per job showed in profiles. Both
    // series exist (maybe at 0) for every worker seen, so per-worker panels cover idle workers.
    const labels = { pipeline: pipeline.name, worker: this.#workerLabel(worker) };
    metrics.jobsCompleted.inc(labels, completed);
    metrics.jobsFailed.inc(labels, failed);
    if (dead > 0) metrics.jobsDeadLettered.inc(this.#labels, dead);
    if (duplicates > 0) metrics.duplicateResults.inc(this.#labels, duplicates);
    // Acked whatever the outcome: the ventilator stops tracking them; a retry comes back through the ledger.
    this.#n.acks.add(batch, results);
    return fold && { fold, counts, now, readBack: !collecting };
  }

  /**
   * A value nested deeper than JSON.stringify can write (its stack runs out; JSON.parse took it,
   * so only a rogue or broken peer sends one) fails its record call every time, and the calls of
   * its round with it. Each such result becomes a failure that is not retried, in place (the
   * group's calls keep their names, see RedisLedger.record), and the group goes again.
   */
  #failUnstorable(group: RecordGroup): void {
    const { results } = group;
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      try {
        JSON.stringify(result.ok ? result.value : result.error);
      } catch {
        results[i] = {
          ...result,
          ok: false,
          error: { name: WireErrorName.ResultUnstorable, message: 'its value is nested too deep to be stored', retryable: false },
        } as JobResult;
        this.#n.unstorable(`result of job ${result.batch}:${result.seq} from ${group.worker}: its value is nested too deep to be stored; recorded as failed`);
      }
    }
  }

  /**
   * The worker's id as a metrics label: the first MAX_WORKER_LABELS ids seen each get their own,
   * any later one is `other`. A worker id is whatever a peer says, and each new one would be a
   * series more on /metrics for good.
   */
  #workerLabel(worker: string): string {
    if (this.#workerLabels.has(worker)) return worker;
    if (this.#workerLabels.size >= MAX_WORKER_LABELS) return OTHER_WORKERS;
    this.#workerLabels.add(worker);
    return worker;
  }

  #unknown(group: RecordGroup): void {
    this.#n.unknownBatch(`${group.results.length} result(s) from ${group.worker} for batch ${group.batch}, which was never started`);
  }

  #retry(step: () => Promise<void>): Promise<void> {
    return retrying(step, this.#o.logger, this.#n.running);
  }
}
