import { Publisher, Pull } from 'zeromq';
import { encode, type ProtocolError } from '@jobpipe/protocol';
import { DroppedMessages } from '@jobpipe/observability';
import { baseOptions, boundedReceiveQueue, prepareServerBinds, receiveLoop, SerialSender } from '@jobpipe/transport';
import { BatchBook } from './batch-book.js';
import { Inbox, type SinkMessage } from './inbox.js';
import { ParkedResults } from './parked-results.js';
import { RecordedAcks } from './recorded-acks.js';
import { Recorder } from './recorder.js';
import { retrying } from './retrying.js';
import { compileSinkOptions, type CompiledSinkOptions, type SinkOptions } from './sink-options.js';

/**
 * The sink role: records each job's result once, folds it into its batch, and publishes
 * Recorded acks (gathered a few milliseconds) and batch events. This is the shell: its sockets
 * and its lifecycle. The rooms do the work: the Inbox hands on what arrived together, the
 * Recorder records it once and acks it, the BatchBook keeps the open batches, their folds and
 * their completion.
 */
export class Sink {
  readonly #o: CompiledSinkOptions;
  readonly #results: Pull;
  readonly #events: Publisher;
  readonly #publisher: SerialSender;
  readonly #dropped: DroppedMessages;
  readonly #acks: RecordedAcks;
  readonly #book: BatchBook;
  readonly #recorder: Recorder;
  readonly #inbox: Inbox;
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reconciling = false;
  #running = false;

  constructor(options: SinkOptions) {
    const o = (this.#o = compileSinkOptions(options));
    this.#dropped = new DroppedMessages('sink', o.metrics, o.logger);
    const socketOptions = baseOptions({ maxMessageBytes: o.maxMessageBytes });
    this.#results = new Pull({ ...socketOptions, ...boundedReceiveQueue({ maxMessageBytes: o.maxMessageBytes }), ...o.security.bindOptions() });
    this.#events = new Publisher({ ...socketOptions, ...o.security.bindOptions() });
    this.#publisher = new SerialSender(this.#events);
    const publish = (frame: Buffer) => void this.#publish(frame);
    this.#acks = new RecordedAcks((batch, seqs) => publish(encode({ type: 'Recorded', batch, seqs })));
    this.#book = new BatchBook(o, { publish, flushAcks: () => this.#acks.flush() });
    const running = () => this.#running;
    this.#recorder = new Recorder(o, {
      book: this.#book,
      acks: this.#acks,
      parked: new ParkedResults({ maxResults: o.maxParkedResults, maxBytes: o.maxParkedBytes }),
      unknownBatch: (detail) => this.#malformed('unknown_batch', detail, 0),
      running,
    });
    this.#inbox = new Inbox(
      {
        packs: (packs) => this.#recorder.record(packs),
        control: async (message) => {
          if (message.type === 'BatchEnd') return retrying(() => this.#book.end(message.batch, message.jobs), o.logger, running);
          let started = false;
          await retrying(async () => void (started = await this.#book.begin(message.batch)), o.logger, running);
          if (started) await this.#recorder.release(message.batch);
        },
      },
      { maxQueued: o.maxQueuedMessages, maxQueuedBytes: o.maxQueuedBytes },
    );
  }

  get running(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
    const { logger, metrics, security, resultsBind, eventsBind, ledger, pipeline } = this.#o;
    await prepareServerBinds(security, {
      role: 'sink',
      endpoints: [resultsBind, eventsBind],
      exposes: 'send results or read batch events',
      logger,
      refused: metrics.handshakesRefused,
    });
    await this.#results.bind(resultsBind);
    await this.#events.bind(eventsBind);
    this.#running = true;
    this.#loop = receiveLoop(this.#results, {
      accept: ['Results', 'BatchStart', 'BatchEnd'],
      maxMessageBytes: this.#o.maxMessageBytes,
      onMessage: async (message: SinkMessage, _envelope, bytes) => {
        if (message.pipeline !== pipeline.name) {
          this.#malformed('wrong_pipeline', `message for pipeline ${message.pipeline}, this sink records ${pipeline.name}`, 0);
          return;
        }
        await this.#inbox.put(message, bytes);
      },
      onMalformed: (error: ProtocolError, _envelope, bytes) => this.#malformed(error.reason, error.message, bytes),
    });
    if (ledger.durable) {
      this.#timer = setInterval(() => void this.#reconcile(), this.#o.reconcileEveryMs);
      void this.#reconcile();
    }
    logger.info({ results: resultsBind, events: eventsBind, durable: ledger.durable, curve: security.enabled }, 'sink started');
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#inbox.close();
    clearInterval(this.#timer);
    this.#results.close();
    await this.#loop;
    await this.#inbox.idle();
    await this.#book.idle();
    this.#acks.flush();
    await this.#publisher.idle().catch(() => {});
    this.#events.close();
    this.#o.logger.info({ openBatches: this.#book.openBatches }, 'sink stopped');
  }

  /**
   * Redis went back in time (LedgerClock): every open fold is checked against the ledger's
   * counts, and folded again where it holds results Redis lost.
   */
  redisWentBack(now?: number, seen?: number): void {
    const { logger, metrics } = this.#o;
    metrics.redisWentBack.inc({ role: 'sink' });
    logger.error(
      { clock: now, seen, noticedBy: now === undefined ? 'another role' : 'this one', openBatches: this.#book.openBatches },
      'Redis went back in time: it lost writes it had acknowledged; checking every open batch',
    );
    void this.#book.checkFolds();
  }

  async #reconcile(): Promise<void> {
    if (this.#reconciling || !this.#running) return;
    this.#reconciling = true;
    try {
      await this.#book.reconcile();
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'reconcile failed; will try again');
    } finally {
      this.#reconciling = false;
    }
  }

  #publish(frame: Buffer): Promise<void> {
    return this.#publisher.send(frame).catch((error: Error) => this.#o.logger.warn({ err: error }, 'event not published'));
  }

  #malformed(reason: string, detail: string, bytes: number): void {
    this.#dropped.drop(reason, { bytes, detail });
  }
}
