import { Type, type Static } from '@sinclair/typebox';

/**
 * The version byte (byte 0) of every message type but a version 2 Credit. Versions are per
 * message type (PROTOCOL.md section 8): version 2 of the protocol changed Credit alone.
 */
export const PROTOCOL_VERSION = 1;
/** The version byte of a Credit that grants credit per pipeline (PROTOCOL.md 3.3). */
export const PIPELINE_CREDIT_VERSION = 2;
/** Pipelines one Credit may list. */
export const MAX_PIPELINES_PER_CREDIT = 64;

/** Message type codes carried in byte 1 of every message (see PROTOCOL.md). */
export const MessageType = {
  Jobs: 0x01,
  Results: 0x02,
  Credit: 0x03,
  Drain: 0x04,
  Drained: 0x05,
  BatchStart: 0x06,
  BatchEnd: 0x07,
  Cancel: 0x08,
  BatchProgress: 0x10,
  BatchCompleted: 0x11,
  Recorded: 0x12,
} as const;
export type MessageTypeName = keyof typeof MessageType;
export type MessageTypeCode = (typeof MessageType)[MessageTypeName];

const Id = Type.String({ minLength: 1, maxLength: 200 });
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Attempt = Type.Integer({ minimum: 1, maximum: 1_000_000 });
const EpochMs = Type.Number({ minimum: 0 });

/** A W3C `traceparent`, version 00: `00-<trace id, 32 hex>-<parent span id, 16 hex>-<flags, 2 hex>`, lower case. */
export const TRACEPARENT_PATTERN = '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$';
/** The most a `tracestate` may hold (W3C: 32 entries of at most 256 characters; 512 is what propagators keep). */
export const MAX_TRACESTATE_LENGTH = 512;
/**
 * The trace context a job or result carries (PROTOCOL.md 3.1 and 3.2, "Trace context"): both
 * optional, sent only for a job that is traced. Unknown to a receiver older than them, which
 * ignores them.
 */
const TraceFields = {
  traceparent: Type.Optional(Type.String({ pattern: TRACEPARENT_PATTERN })),
  tracestate: Type.Optional(Type.String({ maxLength: MAX_TRACESTATE_LENGTH })),
};

export const JobSchema = Type.Object({
  batch: Id,
  seq: Seq,
  attempt: Attempt,
  dispatchedAt: EpochMs,
  payload: Type.Unknown(),
  ...TraceFields,
});

export const JobsSchema = Type.Object({ pipeline: Id, jobs: Type.Array(JobSchema, { minItems: 1 }) });

/** A span id: 16 lower-case hex digits (W3C Trace Context). */
export const SPAN_ID_PATTERN = '^[0-9a-f]{16}$';
/**
 * The worker's span of a traced job's handler run, which the sink exports for it (PROTOCOL.md
 * 3.2, "The handler's span"): its ids are in the result's `traceparent`, its end is `startedAt`
 * plus `durationMs`.
 */
export const HandlerSpanSchema = Type.Object({ parentSpanId: Type.String({ pattern: SPAN_ID_PATTERN }), startedAt: EpochMs });
const ResultBase = {
  batch: Id,
  seq: Seq,
  attempt: Attempt,
  dispatchedAt: EpochMs,
  durationMs: Type.Number({ minimum: 0 }),
  ...TraceFields,
  handlerSpan: Type.Optional(HandlerSpanSchema),
};
export const JobErrorSchema = Type.Object({
  name: Type.String({ maxLength: 200 }),
  message: Type.String({ maxLength: 10_000 }),
  /**
   * `false`: retrying cannot help (the handler threw a NonRetryableError, or any error marked
   * `retryable = false`): the job becomes a dead letter at once, whatever retries its pipeline
   * allows. Absent or `true`: retried as usual (PROTOCOL.md 3.2, "Failures not to retry").
   */
  retryable: Type.Optional(Type.Boolean()),
});
export const ResultSchema = Type.Union([
  Type.Object({ ...ResultBase, ok: Type.Literal(true), value: Type.Unknown() }),
  Type.Object({ ...ResultBase, ok: Type.Literal(false), error: JobErrorSchema }),
]);
export const ResultsSchema = Type.Object({
  pipeline: Id,
  worker: Id,
  results: Type.Array(ResultSchema, { minItems: 1 }),
});

/** How many jobs a worker runs at once (per pipeline in version 2): for operators only, never credit (PROTOCOL.md 3.3). */
const Slots = Type.Integer({ minimum: 1, maximum: 1_000_000 });
/**
 * `grantedBytes` and `receivedBytes` come together or not at all: a credit in message bytes as
 * well as in jobs (PROTOCOL.md 4a). JSON Schema's `dependencies` says so in the published schemas;
 * the codec checks it (TypeBox's compiler leaves that keyword alone).
 */
const BYTES_TOGETHER = { dependencies: { grantedBytes: ['receivedBytes'], receivedBytes: ['grantedBytes'] } };
/** A credit's counts: a version 1 Credit's, and each lane's of a version 2 one. */
const CREDIT_COUNTS = {
  granted: Count,
  received: Count,
  grantedBytes: Type.Optional(Count),
  receivedBytes: Type.Optional(Count),
  slots: Type.Optional(Slots),
};
export const CreditSchema = Type.Object({ worker: Id, ...CREDIT_COUNTS }, BYTES_TOGETHER);
/** One pipeline's credit in a version 2 Credit: a lane, counted as a version 1 session is (PROTOCOL.md 3.3). */
export const LaneCreditSchema = Type.Object(CREDIT_COUNTS, BYTES_TOGETHER);
/** A version 2 Credit: the worker's credit per pipeline it serves, keyed by pipeline name (1 to 200 code units each, checked by the codec). */
export const PipelineCreditSchema = Type.Object({
  worker: Id,
  pipelines: Type.Record(Type.String(), LaneCreditSchema, { minProperties: 1, maxProperties: MAX_PIPELINES_PER_CREDIT }),
});
export const DrainSchema = Type.Object({ worker: Id, received: Count });
export const DrainedSchema = Type.Object({ sent: Count });

export const BatchStartSchema = Type.Object({ batch: Id, pipeline: Id, startedAt: EpochMs });
export const BatchEndSchema = Type.Object({ batch: Id, pipeline: Id, jobs: Count });
/** Stop the batch's jobs (`seqs` absent) or these of them: not started, never run; running, aborted. */
export const CancelSchema = Type.Object({ pipeline: Id, batch: Id, seqs: Type.Optional(Type.Array(Seq, { minItems: 1 })) });

export const BatchProgressSchema = Type.Object({
  batch: Id,
  pipeline: Id,
  done: Count,
  failed: Count,
  total: Type.Union([Count, Type.Null()]),
});

export const BatchSummarySchema = Type.Object({
  batch: Id,
  pipeline: Id,
  jobs: Count,
  failed: Count,
  duplicates: Count,
  wallSeconds: Type.Number({ minimum: 0 }),
  jobsPerSecond: Type.Number({ minimum: 0 }),
  perWorker: Type.Record(Type.String(), Count),
  answer: Type.Unknown(),
  /** Jobs cancelled (`jobpipe cancel`); absent from a sink before cancel existed, and when none was. */
  cancelled: Type.Optional(Count),
});
export const BatchCompletedSchema = Type.Object({ summary: BatchSummarySchema });

export const RecordedSchema = Type.Object({ batch: Id, seqs: Type.Array(Seq, { minItems: 1 }) });

export type Job = Static<typeof JobSchema>;
export type JobResult = Static<typeof ResultSchema>;
export type JobError = Static<typeof JobErrorSchema>;
export type HandlerSpan = Static<typeof HandlerSpanSchema>;
export type BatchSummary = Static<typeof BatchSummarySchema>;
export type LaneCredit = Static<typeof LaneCreditSchema>;

/** Every message, as a discriminated union on `type`. */
export type Message =
  | ({ type: 'Jobs' } & Static<typeof JobsSchema>)
  | ({ type: 'Results' } & Static<typeof ResultsSchema>)
  | ({ type: 'Credit'; version?: undefined } & Static<typeof CreditSchema>)
  | ({ type: 'Credit'; version: 2 } & Static<typeof PipelineCreditSchema>)
  | ({ type: 'Drain' } & Static<typeof DrainSchema>)
  | ({ type: 'Drained' } & Static<typeof DrainedSchema>)
  | ({ type: 'BatchStart' } & Static<typeof BatchStartSchema>)
  | ({ type: 'BatchEnd' } & Static<typeof BatchEndSchema>)
  | ({ type: 'Cancel' } & Static<typeof CancelSchema>)
  | ({ type: 'BatchProgress' } & Static<typeof BatchProgressSchema>)
  | ({ type: 'BatchCompleted' } & Static<typeof BatchCompletedSchema>)
  | ({ type: 'Recorded' } & Static<typeof RecordedSchema>);

export type MessageOf<T extends MessageTypeName> = Extract<Message, { type: T }>;

/** The body schema of each message type at version 1, used by the codec and exported as JSON Schema. */
export const BodySchemas = {
  Jobs: JobsSchema,
  Results: ResultsSchema,
  Credit: CreditSchema,
  Drain: DrainSchema,
  Drained: DrainedSchema,
  BatchStart: BatchStartSchema,
  BatchEnd: BatchEndSchema,
  Cancel: CancelSchema,
  BatchProgress: BatchProgressSchema,
  BatchCompleted: BatchCompletedSchema,
  Recorded: RecordedSchema,
} as const;

/** The types that have a version 2, and their body schemas (exported as `schema/<Type>.v2.json`). */
export const Version2BodySchemas = {
  Credit: PipelineCreditSchema,
} as const;

/** A job's id on the wire and in logs: deterministic from batch id and sequence number. */
export function jobId(batch: string, seq: number): string {
  return `${batch}:${seq}`;
}
