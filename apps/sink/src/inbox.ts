import type { JobResult, MessageOf } from '@jobpipe/protocol';
import { Signal } from '@jobpipe/transport';

export type SinkMessage = MessageOf<'Results'> | MessageOf<'BatchStart'> | MessageOf<'BatchEnd'>;
/** One Results message's worth: a worker's results, maybe of several batches. */
export interface ResultPack {
  worker: string;
  results: JobResult[];
}

/** What the inbox hands on, one call at a time, never two at once. */
export interface InboxHandlers {
  /** Result packs that arrived together (between two control messages). */
  packs(packs: ResultPack[]): Promise<void>;
  /** A BatchStart or BatchEnd, after every pack that came before it. */
  control(message: MessageOf<'BatchStart'> | MessageOf<'BatchEnd'>): Promise<void>;
}

/**
 * Messages received and not yet recorded. What arrives while the previous round is recording
 * is handed on together: all its result packs in one round of concurrent ledger calls, so under
 * load many messages share a round trip, while a lone result goes at once. Control messages keep
 * their order.
 */
export class Inbox {
  readonly #messages: SinkMessage[] = [];
  readonly #drainedSome = new Signal();
  #draining = false;
  #open = true;

  constructor(
    private readonly handlers: InboxHandlers,
    /** Messages waiting before `put` waits too (SinkOptions.maxQueuedMessages). */
    private readonly maxQueued: number,
  ) {}

  /** Takes a message; waits while the inbox is full and open (backpressure on the socket). */
  async put(message: SinkMessage): Promise<void> {
    this.#messages.push(message);
    if (!this.#draining) void this.#drain();
    // Backpressure: while the ledger is behind, stop reading; the socket's queue holds the rest.
    while (this.#messages.length >= this.maxQueued && this.#open) await this.#drainedSome.wait(1000);
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
        this.#drainedSome.notify();
        let packs: ResultPack[] = [];
        for (const message of messages) {
          if (message.type === 'Results') {
            packs.push({ worker: message.worker, results: message.results });
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
