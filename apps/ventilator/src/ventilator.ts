import { randomBytes } from 'node:crypto';
import { Push, Router, Subscriber } from 'zeromq';
import { encode, topicOf, type BatchSummary, type MessageOf } from '@jobpipe/protocol';
import { DroppedMessages, leftOut, LogLimiter, settleWithin } from '@jobpipe/observability';
import { baseOptions, boundedReceiveQueue, prepareServerBinds, receiveLoop, retryRefusedHandshakes, SerialSender } from '@jobpipe/transport';
import { PipelineLane, type BatchTraceContext } from './pipeline-lane.js';
import { compileVentilatorOptions, type CompiledVentilatorOptions, type VentilatorOptions } from './ventilator-options.js';
import type { ByteCredit } from './worker-registry.js';
import { SESSION_LINES_PER_10_S } from './worker-sessions.js';

/** How long a stop waits for the loops' last Redis writes (Redis may be away then). */
const STOP_WAIT_MS = 3000;

/**
 * The ventilator role: streams each batch's split into jobs, writes each to the ledger before it
 * leaves, and sends jobs to workers only against the credit they grant. This class is the shell:
 * the sockets, the lifecycle, and the routing of what workers and the sink say to the lane of each
 * pipeline it serves (pipeline-lane.ts), which runs that pipeline's batches.
 */
export class Ventilator {
  readonly #o: CompiledVentilatorOptions;
  readonly #workersSocket: Router;
  readonly #toWorkers: SerialSender;
  readonly #toSink: Push;
  readonly #sinkSender: SerialSender;
  readonly #events: Subscriber;
  readonly #lanes = new Map<string, PipelineLane>();
  /** Lines about sessions (drains from unknown ones, refused credit): a hundred of a kind in 10 s at most. */
  readonly #sessionLines = new LogLimiter(SESSION_LINES_PER_10_S);
  readonly #dropped: DroppedMessages;
  /** Sessions told of a refusal or an ignored pipeline already: logged once per session. */
  readonly #refusalsLogged = new Set<string>();
  #running = false;
  #loops: Promise<unknown>[] = [];
  #timers: NodeJS.Timeout[] = [];

  /** @throws OptionError when an option is invalid (ventilator-options.ts). */
  constructor(options: VentilatorOptions) {
    const o = (this.#o = compileVentilatorOptions(options));
    const { metrics, logger, security } = o;
    const running = () => this.#running;
    this.#dropped = new DroppedMessages('ventilator', metrics, logger);
    const socketOptions = baseOptions({ maxMessageBytes: o.maxMessageBytes });
    // mandatory: a send to a worker that has gone fails at once instead of vanishing silently.
    this.#workersSocket = new Router({
      ...socketOptions,
      ...boundedReceiveQueue({ maxMessageBytes: o.maxMessageBytes }),
      ...security.bindOptions('jobs'),
      mandatory: true,
      handover: true,
    });
    this.#toWorkers = new SerialSender(this.#workersSocket);
    this.#toSink = new Push({ ...socketOptions, ...security.connectOptions() });
    this.#sinkSender = new SerialSender(this.#toSink);
    this.#events = new Subscriber({ ...socketOptions, ...security.connectOptions() });
    for (const pipeline of o.pipelines) {
      const lane = new PipelineLane({
        options: o,
        pipeline,
        ledger: o.ledgerOf(pipeline.name),
        takeTokens: o.takeTokensOf(pipeline.name),
        toWorkers: this.#toWorkers,
        toSink: this.#sinkSender,
        running,
      });
      this.#lanes.set(pipeline.name, lane);
    }
  }

  get running(): boolean {
    return this.#running;
  }

  /** The lane of each pipeline served, by pipeline name. */
  get lanes(): ReadonlyMap<string, PipelineLane> {
    return this.#lanes;
  }

  /** The lane of `pipeline`, or of the one pipeline served when none is named. @throws Error for a pipeline not served, or none named among several */
  lane(pipeline?: string): PipelineLane {
    if (pipeline === undefined) {
      if (this.#lanes.size === 1) return this.#lanes.values().next().value!;
      throw new Error(`this ventilator serves ${[...this.#lanes.keys()].join(', ')}: name the pipeline`);
    }
    const lane = this.#lanes.get(pipeline);
    if (!lane) throw new Error(`this ventilator does not serve pipeline ${pipeline} (it serves ${[...this.#lanes.keys()].join(', ')})`);
    return lane;
  }

  /** Jobs dispatched and not yet recorded, over every pipeline. */
  get inFlight(): number {
    let jobs = 0;
    for (const lane of this.#lanes.values()) jobs += lane.inFlight;
    return jobs;
  }

  /** Worker sessions that sent a heartbeat recently, whatever pipelines they serve (the most any one pipeline has). */
  get workersConnected(): number {
    let most = 0;
    for (const lane of this.#lanes.values()) most = Math.max(most, lane.workersConnected);
    return most;
  }

  async start(): Promise<void> {
    const { logger, metrics, security, jobsBind, resultsConnect, eventsConnect, maxMessageBytes } = this.#o;
    await prepareServerBinds(security, {
      role: 'ventilator',
      binds: [{ socket: 'jobs', endpoint: jobsBind, zmq: this.#workersSocket }],
      exposes: 'take jobs',
      logger,
      refused: metrics.handshakesRefused,
    });
    await this.#workersSocket.bind(jobsBind);
    // Its link to the sink: a refusal (its link key not in the sink's list yet) is retried.
    retryRefusedHandshakes(this.#toSink, { endpoint: resultsConnect, publicKey: security.clientPublicKey, logger, socketName: 'results', who: 'ventilator' });
    retryRefusedHandshakes(this.#events, { endpoint: eventsConnect, publicKey: security.clientPublicKey, logger, socketName: 'events', who: 'ventilator' });
    this.#toSink.connect(resultsConnect);
    this.#events.connect(eventsConnect);
    this.#events.subscribe(topicOf('Recorded'), topicOf('BatchCompleted'));
    this.#running = true;
    this.#loops.push(
      receiveLoop(this.#workersSocket, {
        accept: ['Credit', 'Drain'],
        envelopeFrames: 1,
        maxMessageBytes,
        onMessage: (message, [routingId]) => {
          if (message.type === 'Credit') this.#credit(routingId!, message);
          else void this.#drain(routingId!, message.worker, message.received);
        },
        onMalformed: (error, _envelope, bytes) => this.#dropped.drop(error.reason, { socket: 'workers', bytes, detail: error.message }),
      }),
      receiveLoop(this.#events, {
        accept: ['Recorded', 'BatchCompleted'],
        maxMessageBytes,
        onMessage: (message) => {
          if (message.type === 'Recorded') {
            // A batch belongs to one lane; the others know nothing of it and skip it.
            for (const lane of this.#lanes.values()) lane.recorded(message.batch, message.seqs);
          } else this.#lanes.get(message.summary.pipeline)?.completed(message.summary);
        },
        onMalformed: (error, _envelope, bytes) => this.#dropped.drop(error.reason, { socket: 'events', bytes, detail: error.message }),
      }),
      ...[...this.#lanes.values()].map((lane) => lane.run()),
    );
    this.#timers.push(
      setInterval(() => {
        for (const lane of this.#lanes.values()) lane.dropSilent();
      }, this.#o.heartbeatMs),
      setInterval(() => {
        for (const lane of this.#lanes.values()) void lane.reap();
      }, this.#o.reapEveryMs),
    );
    logger.info(
      {
        pipelines: [...this.#lanes.keys()],
        jobs: jobsBind,
        results: resultsConnect,
        events: eventsConnect,
        durable: this.#o.pipelines.every((pipeline) => this.#lanes.get(pipeline.name)!.ledger.durable),
        curve: security.enabled,
      },
      'ventilator started',
    );
  }

  /**
   * A Credit: a version 2 one gives each pipeline it lists its credit (PROTOCOL.md 3.3); a version
   * 1 one, which names no pipeline, is credit for the one pipeline served, and is refused when
   * several are (PROTOCOL.md section 8).
   */
  #credit(routingId: Buffer, message: MessageOf<'Credit'>): void {
    if (message.version === 2) {
      for (const [pipeline, lane] of Object.entries(message.pipelines)) {
        const target = this.#lanes.get(pipeline);
        if (target) target.credit(routingId, message.worker, lane.granted, lane.received, byteCreditOf(lane), lane.slots);
        else this.#refused(routingId, message.worker, 'unknown_pipeline', pipeline);
      }
      return;
    }
    if (this.#lanes.size > 1) {
      this.#refused(routingId, message.worker, 'v1_many_pipelines');
      return;
    }
    this.lane().credit(routingId, message.worker, message.granted, message.received, byteCreditOf(message), message.slots);
  }

  #refused(routingId: Buffer, worker: string, reason: 'unknown_pipeline' | 'v1_many_pipelines', pipeline?: string): void {
    const { logger, metrics } = this.#o;
    metrics.creditRefused.inc({ reason });
    const key = `${reason}:${pipeline ?? ''}:${routingId.toString('latin1')}`;
    if (this.#refusalsLogged.has(key)) return;
    // Bounded: a flood of sessions cannot grow it without end; an entry dropped only means a repeated line.
    if (this.#refusalsLogged.size >= 10_000) this.#refusalsLogged.clear();
    this.#refusalsLogged.add(key);
    // Once per session and pipeline, and a hundred a kind in 10 s at most: sessions cost a peer nothing.
    const allowed = this.#sessionLines.allow(reason);
    if (!allowed) return;
    const served = [...this.#lanes.keys()];
    if (reason === 'v1_many_pipelines') {
      logger.warn(
        { worker, served, ...leftOut(allowed) },
        'worker speaks protocol version 1, which cannot say which pipeline it serves, and this ventilator serves several: it gets no jobs; upgrade it (PROTOCOL.md section 8)',
      );
    } else
      logger.warn({ worker, pipeline, served, ...leftOut(allowed) }, 'worker serves a pipeline this ventilator does not: that pipeline gets nothing from it');
  }

  /**
   * A Drain: every lane that knows the session sends it nothing more, and the answer is the jobs
   * they sent it, once the packs being written ahead for it have left. Never below the worker's
   * own count: a lane that forgot the session (or a restarted ventilator) sent what it says it got
   * (PROTOCOL.md section 4 rule 1), so it then waits for nothing more.
   */
  async #drain(routingId: Buffer, worker: string, received: number): Promise<void> {
    const counts = [...this.#lanes.values()].map((lane) => lane.drain(routingId, worker)).filter((count) => count !== undefined);
    const allowed = counts.length === 0 && this.#sessionLines.allow('drain');
    if (allowed) this.#o.logger.info({ worker, received, ...leftOut(allowed) }, 'drain from an unknown session; answering with its own count');
    let sent = 0;
    for (const count of await Promise.all(counts)) sent += count;
    await this.#toWorkers.send([routingId, encode({ type: 'Drained', sent: Math.max(sent, received) })]).catch(() => {});
  }

  /**
   * Runs one batch of `options.pipeline` (which may be left out when one pipeline is served): see
   * PipelineLane.runBatch.
   */
  runBatch(input: unknown, batchId?: string, options: { priority?: number; pipeline?: string } & BatchTraceContext = {}): Promise<BatchSummary> {
    let lane: PipelineLane;
    try {
      lane = this.lane(options.pipeline);
    } catch (error) {
      return Promise.reject(error);
    }
    return lane.runBatch(input, batchId ?? newBatchId(lane.name), options);
  }

  /**
   * Redis went back in time (LedgerClock): every lane looks for what it lost at once, and cuts the
   * leases Redis has from its past short (PipelineLane.redisWentBack).
   */
  redisWentBack(now?: number, seen?: number): void {
    const { logger, metrics } = this.#o;
    metrics.redisWentBack.inc({ role: 'ventilator' });
    let batches = 0;
    for (const lane of this.#lanes.values()) batches += lane.batchesOpen;
    logger.error(
      { clock: now, seen, noticedBy: now === undefined ? 'another role' : 'this one', batches },
      'Redis went back in time: it lost writes it had acknowledged; looking for lost jobs now',
    );
    for (const lane of this.#lanes.values()) lane.redisWentBack();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const timer of this.#timers) clearInterval(timer);
    for (const lane of this.#lanes.values()) lane.stop();
    await this.#toWorkers.idle().catch(() => {});
    await this.#sinkSender.idle().catch(() => {});
    this.#workersSocket.close();
    this.#toSink.close();
    this.#events.close();
    // A write-ahead waiting for a Redis that is away would hold the dispatch loop, and the stop,
    // until the grace period ran out: what it was writing is in flight or not, and either way the
    // next ventilator's split and reaper find it.
    if (!(await settleWithin(Promise.allSettled(this.#loops), STOP_WAIT_MS)))
      this.#o.logger.warn({ waitedMs: STOP_WAIT_MS }, 'stopped without waiting for the write-aheads under way (Redis does not answer)');
    const lanes = [...this.#lanes.values()];
    this.#o.logger.info(
      {
        inFlight: this.inFlight,
        peakPayloadBytes: Math.max(...lanes.map((lane) => lane.bytes.peak)),
        maxInFlightBytes: this.#o.maxInFlightBytes,
      },
      'ventilator stopped',
    );
  }
}

/** A Credit's (or a lane's) counts in bytes, when it has both (PROTOCOL.md 4a): one alone is read as credit in jobs only. */
function byteCreditOf(counts: { grantedBytes?: number; receivedBytes?: number }): ByteCredit | undefined {
  const { grantedBytes, receivedBytes } = counts;
  return grantedBytes !== undefined && receivedBytes !== undefined ? { grantedBytes, receivedBytes } : undefined;
}

/** A batch id that sorts by time: `<pipeline>-<base36 ms>-<random>`. */
export function newBatchId(pipeline: string): string {
  return `${pipeline}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
