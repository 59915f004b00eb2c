import type { BatchSummary } from '@jobpipe/protocol';
import type { DispatchLedger } from '@jobpipe/ledger';

/** How often a batch's completion is read from a durable ledger, in case the event was missed. */
const DONE_POLL_MS = 1000;

/**
 * The batches this ventilator waits on, each until its summary comes: from the sink's
 * BatchCompleted event, or, with a durable ledger, read from the ledger. Any number may be open.
 */
export class BatchCompletions {
  readonly #waiting = new Map<string, { finish: (summary: BatchSummary) => void; done: Promise<BatchSummary> }>();

  constructor(
    private readonly ledger: Pick<DispatchLedger, 'durable' | 'doneSummary'>,
    /** Called once per batch when it is done, before its promise resolves. */
    private readonly onDone: (batchId: string) => void = () => {},
    private readonly pollMs = DONE_POLL_MS,
  ) {}

  /** Batches waited on. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Whether the batch is waited on. */
  has(batchId: string): boolean {
    return this.#waiting.has(batchId);
  }

  /**
   * Resolves with the batch's summary once it is done. Waiting again on a batch waited on already
   * (the same batch run twice at once) shares the first wait: one poll, one `onDone`.
   */
  wait(batchId: string): Promise<BatchSummary> {
    const waiting = this.#waiting.get(batchId);
    if (waiting) return waiting.done;
    let finish!: (summary: BatchSummary) => void;
    const done = new Promise<BatchSummary>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      finish = (summary: BatchSummary) => {
        // A poll already under way may answer after the event did.
        if (settled) return;
        settled = true;
        clearInterval(timer);
        this.#waiting.delete(batchId);
        this.onDone(batchId);
        resolve(summary);
      };
      // Events are hints (PUB drops for a reconnecting subscriber); a durable ledger is the truth.
      if (this.ledger.durable) {
        timer = setInterval(() => {
          this.ledger.doneSummary(batchId).then(
            (summary) => summary && finish(summary),
            () => {},
          );
        }, this.pollMs);
      }
    });
    this.#waiting.set(batchId, { finish, done });
    return done;
  }

  /** A BatchCompleted event; one for a batch not waited on is ignored. */
  completed(summary: BatchSummary): void {
    this.#waiting.get(summary.batch)?.finish(summary);
  }
}
