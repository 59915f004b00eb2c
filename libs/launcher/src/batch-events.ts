import { Subscriber } from 'zeromq';
import { decode, topicOf, type BatchSummary, type MessageOf } from '@jobpipe/protocol';
import { curveClientOptions, type CurveClient } from '@jobpipe/transport';

export type ProgressEvent = Omit<MessageOf<'BatchProgress'>, 'type'>;

/**
 * Follows a sink's events endpoint. Subscribe before the batch starts: PUB/SUB keeps nothing for
 * a subscriber that was not there yet.
 */
export class BatchEvents {
  readonly #socket: Subscriber;
  readonly #waiters = new Map<string, (summary: BatchSummary) => void>();
  readonly #completed = new Map<string, BatchSummary>();
  readonly #loop: Promise<void>;

  constructor(
    endpoint: string,
    private readonly onProgress: (event: ProgressEvent) => void = () => {},
    /** Keys for a sink whose sockets use CURVE. */
    curve?: CurveClient,
  ) {
    this.#socket = new Subscriber({ linger: 0, ...(curve ? curveClientOptions(curve) : {}) });
    this.#socket.connect(endpoint);
    this.#socket.subscribe(topicOf('BatchCompleted'), topicOf('BatchProgress'));
    this.#loop = this.#receive();
  }

  /** Resolves with the summary of `batch` when the sink completes it; rejects after `timeoutMs`. */
  completed(batch: string, timeoutMs: number): Promise<BatchSummary> {
    const known = this.#completed.get(batch);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`batch ${batch} did not complete within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.set(batch, (summary) => {
        clearTimeout(timer);
        resolve(summary);
      });
    });
  }

  async close(): Promise<void> {
    this.#socket.close();
    await this.#loop.catch(() => {});
  }

  async #receive(): Promise<void> {
    for await (const [frame] of this.#socket) {
      const decoded = decode(frame!, { accept: ['BatchCompleted', 'BatchProgress'] });
      if (!decoded.ok) continue;
      const message = decoded.message;
      if (message.type === 'BatchProgress') {
        const { type: _type, ...event } = message;
        this.onProgress(event);
      } else if (message.type === 'BatchCompleted') {
        this.#completed.set(message.summary.batch, message.summary);
        this.#waiters.get(message.summary.batch)?.(message.summary);
      }
    }
  }
}
