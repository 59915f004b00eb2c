import { Publisher, Pull } from 'zeromq';
import { encode, type ProtocolError } from '@jobpipe/protocol';
import { DroppedMessages, settleWithin } from '@jobpipe/observability';
import { baseOptions, boundedReceiveQueue, prepareServerBinds, receiveLoop, SerialSender } from '@jobpipe/transport';
import { BatchBook } from './batch-book.js';
import { Inbox, type SinkMessage } from './inbox.js';
import { ParkedResults } from './parked-results.js';
import { RecordedAcks } from './recorded-acks.js';
import { Recorder } from './recorder.js';
import { retrying } from './retrying.js';
import { compileSinkOptions, type CompiledSinkOptions, type SinkOptions } from './sink-options.js';

/** How long a stop waits for the results still to be written (Redis may be away then). */
const STOP_WAIT_MS = 3000;

/** One pipeline's part of the sink: its results are recorded and folded apart from the others'. */
interface SinkLane {
  readonly options: CompiledSinkOptions;
  readonly book: BatchBook;
  readonly recorder: Recorder;
  readonly inbox: Inbox;
  reconciling: boolean;
}

/**
 * The sink role: records each job's result once, folds it into its batch, and publishes
 * Recorded acks (gathered a few milliseconds) and batch events. This is the shell: its sockets,
 * its lifecycle, and a lane per pipeline it records, where the rooms do the work: the Inbox hands
 * on what arrived together, the Recorder records it once and acks it, the BatchBook keeps the
 * open batches, their folds and their completion.
 */
export class Sink {
  readonly #o: CompiledSinkOptions;
  readonly #results: Pull;
  readonly #events: Publisher;
  readonly #publisher: SerialSender;
  readonly #dropped: DroppedMessages;
  readonly #acks: RecordedAcks;
  readonly #lanes = new Map<string, SinkLane>();
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: SinkOptions) {
    const o = (this.#o = compileSinkOptions(options));
    this.#dropped = new DroppedMessages('sink', o.metrics, o.logger);
    const socketOptions = baseOptions({ maxMessageBytes: o.maxMessageBytes });
    this.#results = new Pull({ ...socketOptions, ...boundedReceiveQueue({ maxMessageBytes: o.maxMessageBytes }), ...o.security.bindOptions('results') });
    this.#events = new Publisher({ ...socketOptions, ...o.security.bindOptions('events') });
    this.#publisher = new SerialSender(this.#events);
    const publish = (frame: Buffer) => void this.#publish(frame);
    this.#acks = new RecordedAcks((batch, seqs) => publish(encode({ type: 'Recorded', batch, seqs })));
    const running = () => this.#running;
    for (const [i, pipeline] of o.pipelines.entries()) {
      const lane: CompiledSinkOptions = Object.freeze({
        ...o,
        pipeline,
        // The compiled options hold the first pipeline's ledger already.
        ledger: i === 0 ? o.ledger : o.ledgerOf(pipeline),
        logger: o.pipelines.length === 1 ? o.logger : o.logger.child({ pipeline: pipeline.name }),
      });
      const unknownBatch = (detail: string) => this.#malformed('unknown_batch', detail, 0);
      const book = new BatchBook(lane, { publish, flushAcks: () => this.#acks.flush(), unknownBatch });
      const recorder = new Recorder(lane, {
        book,
        acks: this.#acks,
        parked: new ParkedResults({ maxResults: o.maxParkedResults, maxBytes: o.maxParkedBytes }),
        unknownBatch,
        unstorable: (detail) => this.#malformed('bad_fields', detail, 0),
        running,
      });
      const inbox = new Inbox(
        {
          packs: (packs) => recorder.record(packs),
          control: async (message) => {
            if (message.type === 'BatchEnd') return retrying(() => book.end(message.batch, message.jobs), lane.logger, running);
            let started = false;
            await retrying(async () => void (started = await book.begin(message.batch)), lane.logger, running);
            if (started) await recorder.release(message.batch);
          },
        },
        { maxQueued: o.maxQueuedMessages, maxQueuedBytes: o.maxQueuedBytes },
      );
      this.#lanes.set(pipeline.name, { options: lane, book, recorder, inbox, reconciling: false });
    }
  }

  get running(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
    const { logger, metrics, security, resultsBind, eventsBind } = this.#o;
    const lanes = [...this.#lanes.values()];
    await prepareServerBinds(security, {
      role: 'sink',
      binds: [
        { socket: 'results', endpoint: resultsBind, zmq: this.#results },
        { socket: 'events', endpoint: eventsBind, zmq: this.#events },
      ],
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
        const lane = this.#lanes.get(message.pipeline);
        if (!lane) {
          this.#malformed('wrong_pipeline', `message for pipeline ${message.pipeline}, this sink records ${[...this.#lanes.keys()].join(', ')}`, 0);
          return;
        }
        await lane.inbox.put(message, bytes);
      },
      onMalformed: (error: ProtocolError, _envelope, bytes) => this.#malformed(error.reason, error.message, bytes),
    });
    const durable = lanes.filter((lane) => lane.options.ledger.durable);
    if (durable.length > 0) {
      const reconcileAll = () => {
        for (const lane of durable) void this.#reconcile(lane);
      };
      this.#timer = setInterval(reconcileAll, this.#o.reconcileEveryMs);
      reconcileAll();
    }
    logger.info(
      { pipelines: [...this.#lanes.keys()], results: resultsBind, events: eventsBind, durable: durable.length === lanes.length, curve: security.enabled },
      'sink started',
    );
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const lanes = [...this.#lanes.values()];
    for (const lane of lanes) lane.inbox.close();
    clearInterval(this.#timer);
    this.#results.close();
    await this.#loop;
    // Results waiting for a Redis that is away would hold the stop until the grace period ran
    // out. Unrecorded, their jobs come back through their leases and are recorded then.
    const written = settleWithin(
      (async () => {
        for (const lane of lanes) await lane.inbox.idle();
        for (const lane of lanes) await lane.book.idle();
      })(),
      STOP_WAIT_MS,
    );
    if (!(await written))
      this.#o.logger.warn({ waitedMs: STOP_WAIT_MS }, 'stopped without recording the results still waiting for Redis (their leases bring the jobs back)');
    this.#acks.flush();
    await this.#publisher.idle().catch(() => {});
    this.#events.close();
    this.#o.logger.info({ openBatches: this.#openBatches() }, 'sink stopped');
  }

  /**
   * Redis went back in time (LedgerClock): every open fold is checked against the ledger's
   * counts, and folded again where it holds results Redis lost.
   */
  redisWentBack(now?: number, seen?: number): void {
    const { logger, metrics } = this.#o;
    metrics.redisWentBack.inc({ role: 'sink' });
    logger.error(
      { clock: now, seen, noticedBy: now === undefined ? 'another role' : 'this one', openBatches: this.#openBatches() },
      'Redis went back in time: it lost writes it had acknowledged; checking every open batch',
    );
    for (const lane of this.#lanes.values()) void lane.book.checkFolds();
  }

  #openBatches(): number {
    let open = 0;
    for (const lane of this.#lanes.values()) open += lane.book.openBatches;
    return open;
  }

  async #reconcile(lane: SinkLane): Promise<void> {
    if (lane.reconciling || !this.#running) return;
    lane.reconciling = true;
    try {
      await lane.book.reconcile();
    } catch (error) {
      lane.options.logger.warn({ err: error }, 'reconcile failed; will try again');
    } finally {
      lane.reconciling = false;
    }
  }

  #publish(frame: Buffer): Promise<void> {
    return this.#publisher.send(frame).catch((error: Error) => this.#o.logger.warn({ err: error }, 'event not published'));
  }

  #malformed(reason: string, detail: string, bytes: number): void {
    this.#dropped.drop(reason, { bytes, detail });
  }
}
