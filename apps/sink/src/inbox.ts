import type { JobResult, MessageOf } from '@jobpipe/protocol';
import { Signal } from '@jobpipe/transport';

export type SinkMessage = MessageOf<'Results'> | MessageOf<'BatchStart'> | MessageOf<'BatchEnd'>;
/** One Results message's worth: a worker's results, maybe of several batches. */
export interface ResultPack {
  worker: string;
  results: JobResult[];
  /** The Results message's size on the wire: what the results are reckoned to hold (see ParkedResults). */
  bytes: number;
}

/** What the inbox hands on, one call at a time, never two at once. */
export interface InboxHandlers {
  /** Result packs that arrived together (between two control messages). */
  packs(packs: ResultPack[]): Promise<void>;
  /** A BatchStart or BatchEnd, after every pack that came before it. */
  control(message: MessageOf<'BatchStart'> | MessageOf<'BatchEnd'>): Promise<void>;
}

/** What the inbox holds back: the two bounds `put` waits on. */
export interface InboxLimits {
  /** Messages waiting before `put` waits too (SinkOptions.maxQueuedMessages). */
  maxQueued: number;
  /** Bytes on the wire of the messages waiting before `put` waits too (SinkOptions.maxQueuedBytes). */
  maxQueuedBytes: number;
}

/**
 * Messages received and not yet recorded. What arrives while the previous round is recording
 * is handed on together: all its result packs in one round of concurrent ledger calls, so under
 * load many messages share a round trip, while a lone result goes at once. Control messages keep
 * their order.
 *
 * Bounded in messages and in bytes (their size on the wire): `put` takes the message, then waits
 * while either bound is reached, so what waits stays under maxQueuedBytes plus the last message
 * taken (already decoded, held either way), and a message larger than the whole budget is still
 * taken and handed on: never a deadlock.
 */
export class Inbox {
  readonly #messages: { message: SinkMessage; bytes: number }[] = [];
  readonly #drainedSome = new Signal();
  #bytes = 0;
  #draining = false;
  #open = true;

  constructor(
    private readonly handlers: InboxHandlers,
    private readonly limits: InboxLimits,
  ) {}

  /**
   * Takes a message, `bytes` its size on the wire; waits while the inbox is full and open
   * (backpressure on the socket).
   */
  async put(message: SinkMessage, bytes: number): Promise<void> {
    this.#messages.push({ message, bytes });
    this.#bytes += bytes;
    if (!this.#draining) void this.#drain();
    // Backpressure: while the ledger is behind, stop reading; the socket's queue holds the rest.
    const { maxQueued, maxQueuedBytes } = this.limits;
    while ((this.#messages.length >= maxQueued || this.#bytes >= maxQueuedBytes) && this.#open) await this.#drainedSome.wait(1000);
  }

  /** Stops making `put` wait; what was received is still handed on. */
  close(): void {
    this.#open = false;
    this.#drainedSome.notify();
  }

  /** Resolves once everything received has been handed on. */
  async idle(): Promise<void> {
    while (this.#draining) await this.#drainedSome.wait(100);
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      // Goes on while stopping: what was received is recorded before the sink exits.
      while (this.#messages.length > 0) {
        const messages = this.#messages.splice(0);
        this.#bytes = 0;
        this.#drainedSome.notify();
        let packs: ResultPack[] = [];
        for (const { message, bytes } of messages) {
          if (message.type === 'Results') {
            packs.push({ worker: message.worker, results: message.results, bytes });
            continue;
          }
          if (packs.length > 0) await this.handlers.packs(packs);
          packs = [];
          await this.handlers.control(message);
        }
        if (packs.length > 0) await this.handlers.packs(packs);
      }
    } finally {
      this.#draining = false;
      this.#drainedSome.notify();
    }
  }
}
