import type { JobStream, PendingJob, RedisClient, StreamEntry } from '@jobpipe/ledger';
import { settleWithin, type Logger } from '@jobpipe/observability';
import { heldPayload } from '@jobpipe/protocol';
import type { PipelineLane } from './pipeline-lane.js';

export interface SingleJobsOptions {
  /** The pipeline's job stream. */
  stream: Pick<JobStream, 'ensureGroup' | 'read' | 'claimStale' | 'ack' | 'closeIdle' | 'closed' | 'promoteDue'>;
  /** A connection of its own: the stream read blocks it. */
  reader: RedisClient;
  /** This ventilator's name in the consumer group: unique per process. */
  consumer: string;
  ventilator: Pick<PipelineLane, 'beginBucket' | 'addJobs' | 'endBucket' | 'mayAdd' | 'roomChanged' | 'onWrittenAhead'>;
  /** Entries another consumer read and did not acknowledge for this long are taken over (its ventilator stopped), in ms. */
  claimAfterMs: number;
  /** Entries read at once, at most. */
  readCount: number;
  /** How often buckets that no job rolls over are closed, and delayed jobs that are due put on the stream, in ms. */
  closeEveryMs: number;
  logger: Logger;
}

/** How long one read of the stream waits for an entry, in ms: a stop waits for it too. */
const READ_BLOCK_MS = 1000;
/** How long a stop waits for the read under way and the last acknowledgements. */
const STOP_WAIT_MS = 2000;

/**
 * Feeds the ventilator the single jobs that producers add to the pipeline's job stream
 * (JobpipeClient.add): reads entries in the ventilators' consumer group while the backlog has
 * room, begins each bucket once, hands its jobs in, and acknowledges (deletes) their entries once
 * they are written ahead. A close entry ends its bucket. Entries that a stopped ventilator read
 * and never acknowledged are taken over after `claimAfterMs`; the write-ahead checks each of them
 * against the ledger, so none is sent twice for being read twice.
 */
export class SingleJobs {
  readonly #o: SingleJobsOptions;
  /** Buckets begun here, or being begun: those done already are false (their jobs' entries are only acknowledged). */
  readonly #begun = new Map<string, Promise<boolean>>();
  /** Jobs handed in and not yet written ahead, by bucket: the bucket's priority and each job's stream entry, by seq. */
  readonly #unacked = new Map<string, { priority: number | undefined; entries: Map<number, string> }>();
  #toAck: string[] = [];
  #ackScheduled = false;
  /** The bucket of the newest job read: whether it may queue more decides whether to read. */
  #latestBucket = '';
  /** The id of the newest entry read as new: one read after it with a lower id was delivered again. */
  #newestRead: string | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];

  constructor(options: SingleJobsOptions) {
    this.#o = options;
    options.ventilator.onWrittenAhead((batch, jobs) => this.#writtenAhead(batch, jobs));
  }

  async start(): Promise<void> {
    await this.#o.stream.ensureGroup();
    this.#running = true;
    this.#loop = this.#run();
    const { stream, logger } = this.#o;
    this.#timers.push(
      setInterval(() => {
        stream.closeIdle().catch((error: Error) => logger.debug({ err: error.message }, 'could not close idle buckets'));
        stream.promoteDue(this.#o.readCount).catch((error: Error) => logger.debug({ err: error.message }, 'could not promote delayed jobs'));
      }, this.#o.closeEveryMs),
    );
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const timer of this.#timers) clearInterval(timer);
    // With Redis away a read or an ack would wait for it, past the stop's grace period. What
    // stays unacknowledged is taken over by the next ventilator (claimAfterMs), and written
    // ahead again only where it is not already.
    if (await settleWithin(this.#loop ?? Promise.resolve(), STOP_WAIT_MS)) await settleWithin(this.#flushAcks(), STOP_WAIT_MS);
  }

  async #run(): Promise<void> {
    const { stream, reader, consumer, readCount, claimAfterMs, ventilator, logger } = this.#o;
    let nextClaimAt = 0;
    while (this.#running) {
      try {
        if (!ventilator.mayAdd(this.#latestBucket)) {
          await ventilator.roomChanged(READ_BLOCK_MS);
          continue;
        }
        // Now and then, and first of all: what a stopped ventilator left read and unacknowledged.
        if (Date.now() >= nextClaimAt) {
          nextClaimAt = Date.now() + Math.max(100, claimAfterMs / 2);
          const stale = await stream.claimStale(consumer, claimAfterMs, readCount);
          if (stale.length > 0) {
            logger.info({ entries: stale.length }, 'took over single jobs that a stopped ventilator had read');
            // Whoever read them first may have begun their buckets in writes Redis lost since.
            for (const entry of stale) this.#begun.delete(entry.bucket);
            await this.#take(stale);
            continue;
          }
        }
        const entries = await stream.read(reader, consumer, readCount, READ_BLOCK_MS);
        if (this.#deliveredAgain(entries)) {
          logger.warn({ entries: entries.length }, 'single jobs were delivered again: Redis went back in time; their buckets are begun again');
          this.beginAgain();
        }
        await this.#take(entries);
      } catch (error) {
        if (!this.#running) break;
        // Redis lost the consumer group (it went back to before the group was made): made again,
        // from the stream's start. The begins of the buckets went with it: each is begun again,
        // at once for jobs handed in already, which may be written ahead before their entries are
        // read again.
        if ((error as Error).message.includes('NOGROUP')) {
          await stream.ensureGroup().catch(() => {});
          this.beginAgain();
          // Read from its start, the new group delivers every entry again: no further loss.
          this.#newestRead = undefined;
        }
        logger.warn({ err: (error as Error).message }, 'reading single jobs failed; trying again');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * Redis went back in time (LedgerClock, a lost consumer group, or entries delivered again): the
   * begins of buckets this ventilator made may be gone with it. A bucket whose jobs were handed in
   * and are not yet written ahead is begun again now; any other, when its next entry comes (begin
   * is idempotent). Otherwise those jobs would be written ahead into a bucket the ledger does not
   * know, whose results are never recorded, and their entries acknowledged: the jobs lost.
   */
  beginAgain(): void {
    this.#begun.clear();
    for (const [bucket, { priority }] of this.#unacked)
      this.#begin(bucket, priority).catch((error: Error) =>
        this.#o.logger.warn({ bucket, err: error.message }, 'could not begin a bucket of single jobs again; its next entry will'),
      );
  }

  /**
   * Whether these entries, read as new, start at or before the newest entry read before: the
   * consumer group's position went back, which only a loss of acknowledged writes does. Reading
   * them is how a ventilator may meet the loss before its ledger clock notices it. A read's
   * entries come in id order, so its first and last are all that need comparing.
   */
  #deliveredAgain(entries: readonly StreamEntry[]): boolean {
    if (entries.length === 0) return false;
    const first = entries[0]!.entryId;
    const last = entries[entries.length - 1]!.entryId;
    const again = this.#newestRead !== undefined && !entryIdAfter(first, this.#newestRead);
    if (this.#newestRead === undefined || entryIdAfter(last, this.#newestRead)) this.#newestRead = last;
    return again;
  }

  /** Hands the entries in, in stream order: a bucket's jobs come before its close entry. */
  async #take(entries: readonly StreamEntry[]): Promise<void> {
    let jobs: PendingJob[] = [];
    const handIn = () => {
      if (jobs.length > 0) this.#o.ventilator.addJobs(jobs);
      jobs = [];
    };
    for (const entry of entries) {
      const live = await this.#begin(entry.bucket, entry.kind === 'job' ? entry.priority : undefined);
      if (entry.kind === 'close') {
        handIn();
        if (live) await this.#o.ventilator.endBucket(entry.bucket, entry.total);
        await this.#o.stream.closed(entry.bucket);
        this.#ack(entry.entryId);
        continue;
      }
      this.#latestBucket = entry.bucket;
      // A done bucket's job is done: its entry was read again after the bucket completed.
      if (!live) {
        this.#ack(entry.entryId);
        continue;
      }
      let unacked = this.#unacked.get(entry.bucket);
      if (!unacked) this.#unacked.set(entry.bucket, (unacked = { priority: entry.priority, entries: new Map() }));
      unacked.entries.set(entry.seq, entry.entryId);
      jobs.push({ batch: entry.bucket, seq: entry.seq, attempt: 1, payloadJson: heldPayload(entry.payloadJson) });
    }
    handIn();
  }

  /** Begins the bucket once: a begin under way is shared; one that failed is tried again next time. */
  #begin(bucket: string, priority: number | undefined): Promise<boolean> {
    const under = this.#begun.get(bucket);
    if (under) return under;
    const begin = this.#o.ventilator.beginBucket(bucket, priority);
    // Bounded: a long-running ventilator meets a bucket every few seconds.
    if (this.#begun.size >= 10_000) this.#begun.delete(this.#begun.keys().next().value!);
    this.#begun.set(bucket, begin);
    begin.catch(() => {
      if (this.#begun.get(bucket) === begin) this.#begun.delete(bucket);
    });
    return begin;
  }

  #writtenAhead(batch: string, jobs: readonly PendingJob[]): void {
    const entries = this.#unacked.get(batch)?.entries;
    if (!entries) return;
    for (const job of jobs) {
      const entryId = entries.get(job.seq);
      if (entryId === undefined) continue;
      entries.delete(job.seq);
      this.#ack(entryId);
    }
    if (entries.size === 0) this.#unacked.delete(batch);
  }

  /** Entries to acknowledge: those of one turn of the event loop go in one round trip. */
  #ack(entryId: string): void {
    this.#toAck.push(entryId);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => void this.#flushAcks());
  }

  async #flushAcks(): Promise<void> {
    this.#ackScheduled = false;
    const entryIds = this.#toAck;
    this.#toAck = [];
    // Not acknowledged: the entries are read again later, and the write-ahead skips what it has.
    await this.#o.stream.ack(entryIds).catch((error: Error) => this.#o.logger.debug({ err: error.message }, 'could not acknowledge single jobs'));
  }
}

/** Whether stream entry id `a` ("<ms>-<seq>") comes after `b`. */
function entryIdAfter(a: string, b: string): boolean {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs > bMs || (aMs === bMs && aSeq > bSeq);
}
