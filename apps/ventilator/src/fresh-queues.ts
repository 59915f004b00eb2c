import type { PendingJob } from '@jobpipe/ledger';

/** The priority of a batch that was given none: after every batch that has one. */
export const LOWEST_PRIORITY = 2_097_152;

/**
 * Where the dispatcher takes a pack from: a queue of jobs of one kind, oldest first. `take`
 * removes the first `count`; `putBack` returns jobs that could not go (to the front).
 */
export interface PackSource {
  readonly jobs: readonly PendingJob[];
  /** Jobs of a split not yet written ahead: the ledger checks they are new. */
  readonly fresh: boolean;
  take(count: number): PendingJob[];
  putBack(jobs: PendingJob[]): void;
}

/**
 * What a job's payload weighs in the ventilator's byte budget: its JSON's length, read without a
 * pass over the text. In bytes for a payload held as bytes (heldPayload, 256 characters or more);
 * in characters for a smaller one held as a string, the same for ASCII text (V8 keeps such a
 * string at one byte a character).
 */
export function jobBytes(job: PendingJob): number {
  return job.payloadJson.length;
}

/** The payload bytes of `jobs` (jobBytes). */
export function bytesOf(jobs: readonly PendingJob[]): number {
  let sum = 0;
  for (const job of jobs) sum += jobBytes(job);
  return sum;
}

/** A running sum of payload bytes, shared by the queues it counts. */
export interface ByteCount {
  bytes: number;
}

/**
 * Removes the jobs that `picked` picks from `jobs`, in place, keeping the others' order; returns
 * how many, and takes their bytes off `count`.
 */
export function removeWhere(jobs: PendingJob[], picked: (job: PendingJob) => boolean, count?: ByteCount): number {
  let kept = 0;
  for (const job of jobs) {
    if (!picked(job)) jobs[kept++] = job;
    else if (count) count.bytes -= jobBytes(job);
  }
  const removed = jobs.length - kept;
  jobs.length = kept;
  return removed;
}

/** A plain queue as a pack source (redeliveries, suspects); what it holds is counted in `count`. */
export function arraySource(jobs: PendingJob[], count: ByteCount): PackSource {
  return {
    jobs,
    fresh: false,
    take: (n) => {
      const taken = jobs.splice(0, n);
      count.bytes -= bytesOf(taken);
      return taken;
    },
    putBack: (back) => {
      jobs.unshift(...back);
      count.bytes += bytesOf(back);
    },
  };
}

interface BatchQueue {
  readonly batch: string;
  readonly priority: number;
  /** Its jobs may be in the ledger already (single jobs read again): the write-ahead checks. */
  readonly recheck: boolean;
  readonly jobs: PendingJob[];
  /** The payload bytes of its jobs (jobBytes). */
  bytes: number;
  /** In its level's rotation: it has jobs waiting. */
  queued: boolean;
}

/**
 * Fresh jobs from the splits, one queue per batch, so that several batches run at once and a
 * small one is never stuck behind a large one. The next pack comes from the highest priority
 * (1 is the highest) that has jobs waiting, and within one priority from each batch in turn,
 * a message each (round robin). Packs are bounded by the same credit and message size whichever
 * batch they come from, so batches with enough jobs waiting share the workers about evenly, and a
 * batch alone gets all of them.
 */
export class FreshQueues {
  readonly #queues = new Map<string, BatchQueue>();
  readonly #opened = new Map<string, { priority: number; recheck: boolean }>();
  /** Batches with jobs waiting, by priority; each level is a rotation, its head goes next. */
  readonly #levels = new Map<number, BatchQueue[]>();
  /** The priorities in #levels, highest first. */
  #order: number[] = [];
  #length = 0;
  #bytes = 0;

  /** Fresh jobs waiting, over every batch. */
  get length(): number {
    return this.#length;
  }

  /** Their payload bytes (jobBytes). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Jobs waiting at each priority that has some, highest first. */
  *waitingByPriority(): IterableIterator<[number, number]> {
    for (const priority of this.#order) {
      let jobs = 0;
      for (const queue of this.#levels.get(priority)!) jobs += queue.jobs.length;
      yield [priority, jobs];
    }
  }

  /** Jobs of `batch` waiting. */
  queued(batch: string): number {
    return this.#queues.get(batch)?.jobs.length ?? 0;
  }

  /** The payload bytes of `batch`'s jobs waiting. */
  queuedBytes(batch: string): number {
    return this.#queues.get(batch)?.bytes ?? 0;
  }

  /** The jobs of `batch` waiting, oldest first (read only). */
  jobsOf(batch: string): readonly PendingJob[] {
    return this.#queues.get(batch)?.jobs ?? [];
  }

  /**
   * Sets a batch's priority (@default LOWEST_PRIORITY) before its jobs come, and whether its jobs
   * may be in the ledger already, so that their write-ahead must check (@default false: a split's
   * fresh jobs are new).
   */
  setPriority(batch: string, priority: number | undefined, recheck = false): void {
    this.#opened.set(batch, { priority: priority ?? LOWEST_PRIORITY, recheck });
  }

  /** The batch is done: its priority and its (empty) queue go. */
  forget(batch: string): void {
    this.#opened.delete(batch);
    const queue = this.#queues.get(batch);
    if (queue && queue.jobs.length === 0) this.#queues.delete(batch);
  }

  /** Takes the waiting jobs of `batch` out (those of `seqs`, or all): they were cancelled. Returns how many. */
  drop(batch: string, seqs?: ReadonlySet<number>): number {
    const queue = this.#queues.get(batch);
    if (!queue) return 0;
    const count = { bytes: 0 };
    const dropped = removeWhere(queue.jobs, (job) => seqs === undefined || seqs.has(job.seq), count);
    this.#length -= dropped;
    this.#addBytes(queue, count.bytes);
    if (queue.queued && queue.jobs.length === 0) {
      const level = this.#levels.get(queue.priority)!;
      level.splice(level.indexOf(queue), 1);
      this.#dequeued(queue, level);
    }
    return dropped;
  }

  push(job: PendingJob): void {
    const queue = this.#queueOf(job.batch);
    queue.jobs.push(job);
    this.#length++;
    this.#addBytes(queue, jobBytes(job));
    if (!queue.queued) this.#enqueue(queue);
  }

  /** The source of the next pack, or undefined when no fresh job waits. */
  next(): PackSource | undefined {
    const priority = this.#order[0];
    if (priority === undefined) return undefined;
    const level = this.#levels.get(priority)!;
    const queue = level[0]!;
    return {
      jobs: queue.jobs,
      fresh: !queue.recheck,
      take: (count) => {
        const taken = queue.jobs.splice(0, count);
        this.#length -= taken.length;
        this.#addBytes(queue, -bytesOf(taken));
        // Its turn is over: to the back of its level, or out of it when nothing is left.
        if (level[0] === queue) level.shift();
        if (queue.jobs.length > 0) level.push(queue);
        else this.#dequeued(queue, level);
        return taken;
      },
      putBack: (back) => {
        // Its queue may have gone once emptied (a batch without a priority): the batch's queue now.
        const current = this.#queueOf(queue.batch);
        current.jobs.unshift(...back);
        this.#length += back.length;
        this.#addBytes(current, bytesOf(back));
        if (!current.queued) this.#enqueue(current);
      },
    };
  }

  /** A queue's payload bytes and the total move together. */
  #addBytes(queue: BatchQueue, bytes: number): void {
    queue.bytes += bytes;
    this.#bytes += bytes;
  }

  #queueOf(batch: string): BatchQueue {
    let queue = this.#queues.get(batch);
    if (!queue) {
      const opened = this.#opened.get(batch);
      queue = { batch, priority: opened?.priority ?? LOWEST_PRIORITY, recheck: opened?.recheck ?? false, jobs: [], bytes: 0, queued: false };
      this.#queues.set(batch, queue);
    }
    return queue;
  }

  #enqueue(queue: BatchQueue): void {
    queue.queued = true;
    let level = this.#levels.get(queue.priority);
    if (!level) {
      level = [];
      this.#levels.set(queue.priority, level);
      this.#order = [...this.#levels.keys()].sort((a, b) => a - b);
    }
    level.push(queue);
  }

  #dequeued(queue: BatchQueue, level: BatchQueue[]): void {
    queue.queued = false;
    if (!this.#opened.has(queue.batch)) this.#queues.delete(queue.batch);
    if (level.length > 0) return;
    this.#levels.delete(queue.priority);
    this.#order = this.#order.filter((priority) => priority !== queue.priority);
  }
}
