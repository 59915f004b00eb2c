/**
 * The jobpipe wire format: one ZeroMQ frame per message, `[version][type][JSON body]`.
 * PROTOCOL.md beside this package is the specification; this is its TypeScript codec.
 *
 * ```ts
 * import { encode, decode } from '@jobpipe/protocol';
 * const frame = encode({ type: 'Credit', worker: 'w1', granted: 8, received: 0 });
 * const decoded = decode(frame, { accept: ['Credit'] });
 * if (decoded.ok) console.log(decoded.message.granted);
 * else console.log(decoded.error.reason);
 * ```
 */
export { encode, encodeRaw, decode, isMessage, topicOf, DEFAULT_MAX_MESSAGE_BYTES } from './codec.js';
export type { DecodeOptions, DecodeResult } from './codec.js';
export { heldPayload, JobsFrameEncoder, JOB_OVERHEAD_BYTES, JOBS_FRAME_SLACK_BYTES, LARGE_PAYLOAD_CHARS, payloadText } from './jobs-frame.js';
export type { PayloadJson, PreEncodedJob } from './jobs-frame.js';
export { JobpipeError, ProtocolError, MALFORMED_REASONS, WireErrorName } from './errors.js';
export type { MalformedReason } from './errors.js';
export {
  PROTOCOL_VERSION,
  PIPELINE_CREDIT_VERSION,
  MAX_PIPELINES_PER_CREDIT,
  MAX_TRACESTATE_LENGTH,
  MessageType,
  TRACEPARENT_PATTERN,
  SPAN_ID_PATTERN,
  BodySchemas,
  Version2BodySchemas,
  jobId,
} from './messages.js';
export type {
  Message,
  MessageOf,
  MessageTypeName,
  MessageTypeCode,
  Job,
  JobResult,
  JobError,
  HandlerSpan,
  BatchSummary,
  LaneCredit,
} from './messages.js';
