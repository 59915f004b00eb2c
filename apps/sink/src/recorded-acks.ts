/** How long a Recorded ack waits for others to share its message, at most. */
export const ACK_EVERY_MS = 5;
/** Seqs that make a Recorded message go at once (about 16 KB of JSON). */
export const ACK_MAX_SEQS = 2000;

/**
 * Gathers the seqs of recorded jobs per batch and hands them to `send` a few milliseconds later,
 * many record rounds to a message. The acks only free the ventilator's in-flight slots, so a few
 * milliseconds cost nothing there, while every message wakes both processes: on these 2-core VMs
 * about 100 us of CPU each (bench/wakeup-cost.mjs), paid 500 times a second at 10,000 jobs/s.
 */
export class RecordedAcks {
  readonly #pending = new Map<string, number[]>();
  #count = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (batch: string, seqs: number[]) => void,
    private readonly everyMs = ACK_EVERY_MS,
    private readonly maxSeqs = ACK_MAX_SEQS,
  ) {}

  add(batch: string, jobs: readonly { seq: number }[]): void {
    let pending = this.#pending.get(batch);
    if (!pending) this.#pending.set(batch, (pending = []));
    for (const job of jobs) pending.push(job.seq);
    this.#count += jobs.length;
    if (this.#count >= this.maxSeqs) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.everyMs);
  }

  /** Sends everything gathered now (before a batch's completion is announced, and on stop). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const [batch, seqs] of this.#pending) this.send(batch, seqs);
    this.#pending.clear();
    this.#count = 0;
  }
}
