import type { ServerResponse } from 'node:http';
import { Subscriber } from 'zeromq';
import type { Logger } from '@jobpipe/observability';
import { decode, topicOf } from '@jobpipe/protocol';
import { curveClientOptions, curvePublicKey, retryRefusedHandshakes, type CurveClient } from '@jobpipe/transport';
import type { ProgressBook } from './progress-book.js';
import type { Views } from './views.js';

/** A batch's status is read again at most this often while its events come. */
const BATCH_REFRESH_MS = 300;
/** How often the workers and pipelines lists go to the browsers watching. */
const LISTS_EVERY_MS = 2000;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

/**
 * The live side of the console: one subscription to the sink's events, passed on to every browser
 * over server-sent events. On each of the sink's batch events the batch's status is read once
 * (at most every BATCH_REFRESH_MS) and sent to all; the workers and pipelines lists are read once
 * every LISTS_EVERY_MS while anyone watches. No browser makes Redis work of its own.
 */
export class LiveEvents {
  readonly #socket: Subscriber;
  readonly #clients = new Set<ServerResponse>();
  readonly #due = new Map<string, NodeJS.Timeout>();
  #loop: Promise<void> | undefined;
  #lists: NodeJS.Timeout | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #connected = false;

  constructor(
    private readonly endpoint: string,
    private readonly views: Views,
    private readonly progress: ProgressBook,
    private readonly logger: Logger,
    curve?: CurveClient,
  ) {
    this.#socket = new Subscriber({ linger: 0, ...(curve ? curveClientOptions(curve) : {}) });
    // Refused (its key not in the sink's JOBPIPE_CURVE_EVENTS_KEYS yet): said, and retried.
    retryRefusedHandshakes(this.#socket, { endpoint, publicKey: curve && curvePublicKey(curve.secretKey), logger, socketName: 'events', who: 'console' });
  }

  get watching(): number {
    return this.#clients.size;
  }

  start(): void {
    this.#socket.events.on('connect', () => {
      if (!this.#connected) this.logger.info({ endpoint: this.endpoint }, "following the sink's events");
      this.#connected = true;
    });
    this.#socket.connect(this.endpoint);
    this.#socket.subscribe(topicOf('BatchProgress'), topicOf('BatchCompleted'));
    this.#loop = this.#receive();
    this.#lists = setInterval(() => void this.#sendLists(), LISTS_EVERY_MS);
    this.#keepalive = setInterval(() => this.#write(': keepalive\n\n'), KEEPALIVE_MS);
  }

  /** A browser's stream: headers now, then every event until it goes away. */
  attach(response: ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write('retry: 2000\n\n');
    this.#clients.add(response);
    response.on('close', () => this.#clients.delete(response));
    void this.#sendLists(response);
  }

  /** Tells every browser of a batch now (one submitted, cancelled or retried through the API). */
  batchChanged(batch: string): void {
    this.#schedule(batch, 0);
  }

  async stop(): Promise<void> {
    clearInterval(this.#lists);
    clearInterval(this.#keepalive);
    for (const timer of this.#due.values()) clearTimeout(timer);
    for (const client of this.#clients) client.end();
    this.#clients.clear();
    this.#socket.close();
    await this.#loop?.catch(() => {});
  }

  async #receive(): Promise<void> {
    for await (const [frame] of this.#socket) {
      const decoded = decode(frame!, { accept: ['BatchProgress', 'BatchCompleted'] });
      if (!decoded.ok) continue;
      const message = decoded.message;
      if (message.type === 'BatchProgress') {
        this.progress.add(message.batch, message.done);
        this.#schedule(message.batch, BATCH_REFRESH_MS);
      } else if (message.type === 'BatchCompleted') {
        this.progress.add(message.summary.batch, message.summary.jobs);
        this.#schedule(message.summary.batch, 0);
      }
    }
  }

  #schedule(batch: string, delayMs: number): void {
    if (this.#clients.size === 0 || this.#due.has(batch)) return;
    this.#due.set(
      batch,
      setTimeout(async () => {
        this.#due.delete(batch);
        try {
          const status = await this.views.batch(batch);
          if (status) this.#write(event('batch', status));
        } catch (error) {
          this.logger.debug({ batch, err: (error as Error).message }, 'could not read a batch for the live view');
        }
      }, delayMs),
    );
  }

  async #sendLists(only?: ServerResponse): Promise<void> {
    if (this.#clients.size === 0) return;
    try {
      const { workers, pipelines } = await this.views.lists();
      const text = event('workers', workers) + event('pipelines', { pipelines });
      if (only) only.write(text);
      else this.#write(text);
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'could not read the lists for the live view');
    }
  }

  #write(text: string): void {
    for (const client of this.#clients) client.write(text);
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
