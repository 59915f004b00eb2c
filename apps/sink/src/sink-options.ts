import { checkOptions, common, defaultsOf, definedOnly, integer, option, OptionError } from '@jobpipe/config';
import { MemoryResultLedger, type ResultLedger } from '@jobpipe/ledger';
import { createLogger, Metrics, type Logger } from '@jobpipe/observability';
import type { Pipeline } from '@jobpipe/pipeline';
import { SocketSecurity } from '@jobpipe/transport';

const WHOLE = Number.MAX_SAFE_INTEGER;
const MIB = 1024 * 1024;

/**
 * How each sink option is checked, and its default: the CLI's settings for the options they feed
 * (so the two cannot drift apart), a rule of its own for the others.
 */
const SINK_OPTION_RULES = {
  resultsBind: common.resultsBind,
  eventsBind: common.eventsBind,
  maxMessageBytes: common.maxMessageBytes,
  maxOpenBatches: option(10_000, integer(1, WHOLE)),
  doneBatchesKept: option(10_000, integer(1, WHOLE)),
  maxQueuedMessages: option(64, integer(1, WHOLE)),
  maxQueuedBytes: option(32 * MIB, integer(1, WHOLE)),
  maxParkedResults: option(20_000, integer(0, WHOLE)),
  maxParkedBytes: option(16 * MIB, integer(0, WHOLE)),
  progressEveryMs: option(250, integer(1, WHOLE)),
  reconcileEveryMs: option(1000, integer(1, WHOLE)),
};

/** Every default of the sink, once; an embedder may leave any of these out. */
export const SINK_DEFAULTS = Object.freeze(defaultsOf(SINK_OPTION_RULES));

/** What an embedder gives `new Sink(...)`: a pipeline (or several), and whatever else it wants to choose. */
export interface SinkOptions {
  /** The pipeline whose results this sink records (its `collect`, `summarize`); or give `pipelines`. */
  pipeline?: Pipeline;
  /** The pipelines whose results this sink records, each in a lane of its own; names must differ. */
  pipelines?: readonly Pipeline[];
  /** Where results are recorded once each, with one pipeline. @default new MemoryResultLedger() (persistence off) */
  ledger?: ResultLedger;
  /** Where each pipeline's results are recorded, with several. @default a MemoryResultLedger each */
  ledgerOf?: (pipeline: Pipeline) => ResultLedger;
  /** ZeroMQ endpoint the PULL socket for Results, BatchStart and BatchEnd binds. @default 'tcp://*:5558' */
  resultsBind?: string;
  /** ZeroMQ endpoint the PUB socket for batch events binds. @default 'tcp://*:5559' */
  eventsBind?: string;
  /** The message limit, header included, in bytes; all roles must agree (1 KiB to 1 GiB). @default 4 MiB */
  maxMessageBytes?: number;
  /** CURVE keys. @default plain sockets */
  security?: SocketSecurity;
  /** @default a silent logger */
  logger?: Logger;
  /** @default a registry of its own, without Node's default metrics */
  metrics?: Metrics;
  /** Batches folded at once; results for more wait (their leases bring them back). @default 10000 */
  maxOpenBatches?: number;
  /** Done batch ids remembered, so a late duplicate for one is not folded again (a few bytes each; the memory ledger keeps fewer seen-sets: MEMORY_DONE_BATCHES_KEPT). @default 10000 */
  doneBatchesKept?: number;
  /**
   * Received messages waiting to be recorded before the sink stops reading its socket (the
   * socket's own queue then holds what peers send). With maxQueuedBytes, bounds the inbox. @default 64
   */
  maxQueuedMessages?: number;
  /**
   * Bytes (messages' sizes on the wire) waiting to be recorded before the sink stops reading its
   * socket, whichever of this and maxQueuedMessages comes first. The inbox holds at most this plus
   * one message (up to maxMessageBytes: one larger than the budget is still taken), and as much
   * again in the round being recorded. 32 MiB is 8 messages at the 4 MiB limit, still plenty to
   * share ledger round trips, where 64 of them would be 256 MB. @default 32 MiB
   */
  maxQueuedBytes?: number;
  /** Results held for batches whose BatchStart has not come yet, at most (persistence off). @default 20000 */
  maxParkedResults?: number;
  /**
   * Bytes of results held for batches whose BatchStart has not come yet, at most (persistence
   * off), reckoned as each result's share of the wire size of the Results message it came in.
   * Results past either this or maxParkedResults are dropped unacknowledged (their leases bring
   * them back). 0 parks nothing. @default 16 MiB
   */
  maxParkedBytes?: number;
  /** A batch's BatchProgress is published at most this often, in ms. @default 250 */
  progressEveryMs?: number;
  /** How often a durable sink checks the ledger for batches it must fold or complete, in ms. @default 1000 */
  reconcileEveryMs?: number;
}

/** SinkOptions with every default filled in: `pipeline` and `ledger` are the first lane's. */
export type SinkOptionsWithDefaults = Required<SinkOptions>;

/**
 * What the sink's rooms read: defaults filled in, checked, frozen; `pipeline` and `ledger` are
 * the lane's (one per pipeline, see Sink). Nothing inside reads SinkOptions.
 */
export type CompiledSinkOptions = Readonly<SinkOptionsWithDefaults>;

/** Fills in every default (see SINK_DEFAULTS); checks nothing. */
export function withDefaults(options: SinkOptions): SinkOptionsWithDefaults {
  const pipelines = options.pipelines ?? (options.pipeline ? [options.pipeline] : []);
  const ledgerOf = options.ledgerOf ?? (options.ledger && pipelines.length === 1 ? () => options.ledger! : () => new MemoryResultLedger());
  const first = pipelines[0];
  return {
    ...SINK_DEFAULTS,
    pipelines,
    ledgerOf,
    ledger: options.ledger ?? (first ? ledgerOf(first) : new MemoryResultLedger()),
    ...(first ? { pipeline: first } : {}),
    security: options.security ?? SocketSecurity.plain(),
    logger: options.logger ?? createLogger('sink', 'silent'),
    metrics: options.metrics ?? new Metrics({ defaultMetrics: false }),
    ...definedOnly(options),
  } as SinkOptionsWithDefaults;
}

/** withDefaults, then checked: a value the sink cannot run with is an OptionError naming the field. */
export function compileSinkOptions(options: SinkOptions): CompiledSinkOptions {
  const o = withDefaults(options);
  if (options.pipeline !== undefined && options.pipelines !== undefined) throw new OptionError('sink', 'pipelines', 'give pipeline or pipelines, not both');
  if (o.pipelines.length === 0) throw new OptionError('sink', 'pipeline', 'a pipeline with a name is required');
  for (const pipeline of o.pipelines) {
    if (typeof pipeline?.name !== 'string' || pipeline.name === '') throw new OptionError('sink', 'pipeline', 'a pipeline with a name is required');
  }
  const names = o.pipelines.map((pipeline) => pipeline.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new OptionError('sink', 'pipelines', `two pipelines are named ${twice}`);
  checkOptions('sink', o, SINK_OPTION_RULES);
  return Object.freeze(o);
}
