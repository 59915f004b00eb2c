import { checkOptions, defaultsOf, definedOnly, OptionError } from '@jobpipe/config';
import { MemoryDispatchLedger, type DispatchLedger } from '@jobpipe/ledger';
import { createLogger, Metrics, type Logger } from '@jobpipe/observability';
import type { Pipeline } from '@jobpipe/pipeline';
import { JOBS_FRAME_SLACK_BYTES } from '@jobpipe/protocol';
import { localTokens, type TakeTokens } from './dispatch-gate.js';
import { SocketSecurity } from '@jobpipe/transport';
import { ventilatorSettings as s } from './settings.js';

/**
 * What an embedder gives `new Ventilator(...)`: only the pipeline (or pipelines) is required.
 * Defaults are the settings' defaults (settings.ts), so a ventilator built in code behaves as
 * `jobpipe ventilator` with nothing set; `runVentilator` passes the parsed settings in.
 */
export interface VentilatorOptions {
  /** The pipeline whose batches it splits; or give `pipelines`. */
  pipeline?: Pipeline;
  /** The pipelines it serves, each in a lane of its own (pipeline-lane.ts); names must differ. */
  pipelines?: readonly Pipeline[];
  /** Where jobs are written ahead, with one pipeline. @default a MemoryDispatchLedger with leaseMs and maxAttempts (persistence off) */
  ledger?: DispatchLedger;
  /** Where each pipeline's jobs are written ahead, with several. @default a MemoryDispatchLedger each */
  ledgerOf?: (pipeline: string) => DispatchLedger;
  /** Endpoint bound for workers. @default 'tcp://*:5557' (JOBPIPE_JOBS_BIND) */
  jobsBind?: string;
  /** The sink's results endpoint (BatchStart, BatchEnd, dead letters). @default 'tcp://127.0.0.1:5558' (JOBPIPE_RESULTS_CONNECT) */
  resultsConnect?: string;
  /** The sink's events endpoint (Recorded, BatchCompleted). @default 'tcp://127.0.0.1:5559' (JOBPIPE_EVENTS_CONNECT) */
  eventsConnect?: string;
  /** Jobs out (split ahead, written ahead, in flight) at most; the split pauses beyond it. @default 10000 (JOBPIPE_MAX_IN_FLIGHT) */
  maxInFlight?: number;
  /**
   * Payload bytes held (split ahead, sent again, written ahead, and in flight with persistence
   * off) at most; the split pauses beyond it. @default 16777216, 16 MiB (JOBPIPE_MAX_IN_FLIGHT_BYTES)
   */
  maxInFlightBytes?: number;
  /** Batches run at once; they share maxInFlight and maxInFlightBytes (see Backlog.mayAdd). @default 100 (JOBPIPE_MAX_OPEN_BATCHES) */
  maxOpenBatches?: number;
  /** Jobs sent per second at most; 0 for none. @default 0 (JOBPIPE_RATE_LIMIT) */
  rateLimit?: number;
  /** Where the rate limit's tokens come from: a bucket shared by the pipeline's ventilators. @default a bucket in this process */
  takeTokens?: TakeTokens;
  /** The same for each pipeline, with several. @default a bucket in this process each */
  takeTokensOf?: (pipeline: string) => TakeTokens;
  /** Jobs packed into one Jobs message at most. @default 500 (JOBPIPE_MAX_JOBS_PER_MESSAGE) */
  maxJobsPerMessage?: number;
  /** A dispatched job with no recorded result after this long is sent again, in ms. @default 60000 (JOBPIPE_LEASE_MS) */
  leaseMs?: number;
  /** Deliveries of a job before it is a dead letter; used by the default ledger only. @default 5 (JOBPIPE_MAX_ATTEMPTS) */
  maxAttempts?: number;
  /**
   * How often each batch whose split is over is checked against a durable ledger for jobs Redis
   * lost (BatchRepair), in ms. @default 5000 (JOBPIPE_REPAIR_CHECK_MS)
   */
  repairCheckMs?: number;
  /** Worker heartbeat interval in ms; a worker silent for 3 is presumed dead. @default 1000 (JOBPIPE_HEARTBEAT_MS) */
  heartbeatMs?: number;
  /** Largest message, header included, in bytes. @default 4194304 (JOBPIPE_MAX_MESSAGE_BYTES) */
  maxMessageBytes?: number;
  /** CURVE keys. @default plain sockets */
  security?: SocketSecurity;
  /** @default a silent logger */
  logger?: Logger;
  /** @default a registry of its own, without the process metrics */
  metrics?: Metrics;
}

/** Every option given, defaults filled in; one pipeline or several alike. */
export type VentilatorOptionsWithDefaults = Required<Omit<VentilatorOptions, 'pipeline' | 'ledger' | 'takeTokens'>>;

/** The checked options, with what follows from them worked out once; the rooms use only these. */
export interface CompiledVentilatorOptions extends Readonly<VentilatorOptionsWithDefaults> {
  /** Bytes a Jobs message may spend on its jobs (PACK_BYTES, or the message limit when smaller, less the frame's own bytes). */
  readonly packBudgetBytes: number;
  /** How often the reaper looks for expired leases and due retries. */
  readonly reapEveryMs: number;
  /** Fresh jobs each batch may queue while the backlog is full: its share of maxInFlight (Backlog.mayAdd). */
  readonly shareWhenFull: number;
  /** And their payload bytes: its share of maxInFlightBytes. */
  readonly shareBytesWhenFull: number;
}

/** How often the reaper looks for expired leases and due retries, at most. */
const REAP_EVERY_MS = 500;

/**
 * A pack's size at most, whatever the message limit (one larger job still goes, alone). Packs of
 * 4 MB at 10 KB a job were held and copied 4 MB at a time, five times over (payloads, frame,
 * write-ahead entries, command, transaction): 1 MiB packs kept the ventilator at 236 MB instead of
 * 259-290 and carried more (9.4k against 6.7k jobs/s durable, docs/benchmarks.md, tenth pass).
 * Jobs of 100 bytes fill 500 a message long before it.
 */
const PACK_BYTES = 1024 * 1024;

/** The options a CLI setting feeds: their defaults and checks are the settings' own. */
const {
  jobsBind,
  resultsConnect,
  eventsConnect,
  maxInFlight,
  maxInFlightBytes,
  maxOpenBatches,
  rateLimit,
  maxJobsPerMessage,
  leaseMs,
  maxAttempts,
  repairCheckMs,
  heartbeatMs,
  maxMessageBytes,
} = s;
const RULES = {
  jobsBind,
  resultsConnect,
  eventsConnect,
  maxInFlight,
  maxInFlightBytes,
  maxOpenBatches,
  rateLimit,
  maxJobsPerMessage,
  leaseMs,
  maxAttempts,
  repairCheckMs,
  heartbeatMs,
  maxMessageBytes,
};

/** Fills in the defaults. */
export function withDefaults(options: VentilatorOptions): VentilatorOptionsWithDefaults {
  const { pipeline, ledger, takeTokens, ...given } = definedOnly(options);
  const settled = { ...defaultsOf(RULES), ...given };
  const memoryLedger = () => new MemoryDispatchLedger({ leaseMs: settled.leaseMs, maxAttempts: settled.maxAttempts });
  // One pipeline's ledger and token bucket, given alone, are that pipeline's.
  const ledgerOf = given.ledgerOf ?? (ledger ? () => ledger : memoryLedger);
  const takeTokensOf = given.takeTokensOf ?? (takeTokens ? () => takeTokens : () => localTokens());
  return {
    ...settled,
    pipelines: given.pipelines ?? (pipeline ? [pipeline] : []),
    ledgerOf,
    takeTokensOf,
    security: given.security ?? SocketSecurity.plain(),
    logger: given.logger ?? createLogger('ventilator', 'silent'),
    metrics: given.metrics ?? new Metrics({ defaultMetrics: false }),
  };
}

/**
 * Fills in the defaults and checks every value against its setting's rule (the same ranges and
 * endpoint forms as the CLI), so an embedder's mistake is one OptionError naming the option.
 */
export function compileVentilatorOptions(options: VentilatorOptions): CompiledVentilatorOptions {
  const o = withDefaults(options);
  if (options.pipeline !== undefined && options.pipelines !== undefined)
    throw new OptionError('ventilator', 'pipelines', 'give pipeline or pipelines, not both', s.pipeline);
  if (o.pipelines.length === 0) throw new OptionError('ventilator', 'pipeline', 'a pipeline is required (definePipeline(...))', s.pipeline);
  for (const pipeline of o.pipelines) {
    if (typeof pipeline?.split !== 'function') throw new OptionError('ventilator', 'pipeline', 'not a pipeline (definePipeline(...))', s.pipeline);
  }
  const names = o.pipelines.map((pipeline) => pipeline.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new OptionError('ventilator', 'pipelines', `two pipelines are named ${twice}`, s.pipeline);
  checkOptions('ventilator', o, RULES);
  return {
    ...o,
    packBudgetBytes: Math.min(o.maxMessageBytes, PACK_BYTES) - JOBS_FRAME_SLACK_BYTES,
    reapEveryMs: Math.min(REAP_EVERY_MS, Math.max(50, o.leaseMs / 4)),
    shareWhenFull: Math.max(1, Math.floor(o.maxInFlight / o.maxOpenBatches)),
    shareBytesWhenFull: Math.max(1, Math.floor(o.maxInFlightBytes / o.maxOpenBatches)),
  };
}
