import { isAscii, isUtf8 } from 'node:buffer';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { ProtocolError } from './errors.js';
import {
  BodySchemas,
  MessageType,
  PIPELINE_CREDIT_VERSION,
  PROTOCOL_VERSION,
  Version2BodySchemas,
  type Message,
  type MessageOf,
  type MessageTypeName,
} from './messages.js';

/** Default largest message the codec accepts, in bytes (4 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const HEADER_BYTES = 2;

const nameByCode = new Map<number, MessageTypeName>(Object.entries(MessageType).map(([name, code]) => [code, name as MessageTypeName]));
// Compiled once at load: a compiled check is about 10x faster than interpreting the schema per message.
const compileAll = (schemas: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, TypeCompiler.Compile(schema as TSchema)])) as Partial<
    Record<MessageTypeName, TypeCheck<TSchema>>
  >;
/** The body checks of each version: a type missing from a version's table does not exist in it. */
const checksByVersion = new Map<number, Partial<Record<MessageTypeName, TypeCheck<TSchema>>>>([
  [PROTOCOL_VERSION, compileAll(BodySchemas)],
  [PIPELINE_CREDIT_VERSION, compileAll(Version2BodySchemas)],
]);
const MAX_ID_LENGTH = 200;

export type DecodeResult = { ok: true; message: Message } | { ok: false; error: ProtocolError };

export interface DecodeOptions {
  /** Largest accepted message in bytes, header included. @default 4 MiB */
  maxBytes?: number;
  /** Types this receiver accepts; anything else is `unexpected_type`. @default all */
  accept?: readonly MessageTypeName[];
}

/** Encodes a message as one frame: version byte (its `version`, else 1), type byte, UTF-8 JSON body. */
export function encode(message: Message): Buffer {
  const { type, version, ...body } = message as Message & { version?: number };
  const json = JSON.stringify(withNulls(type, body));
  const frame = Buffer.allocUnsafe(HEADER_BYTES + Buffer.byteLength(json));
  frame[0] = version ?? PROTOCOL_VERSION;
  frame[1] = MessageType[type];
  frame.write(json, HEADER_BYTES, 'utf8');
  return frame;
}

/** Encodes a message whose body is already JSON text (lets a sender build packed bodies itself). */
export function encodeRaw(type: MessageTypeName, jsonBody: string): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + Buffer.byteLength(jsonBody));
  frame[0] = PROTOCOL_VERSION;
  frame[1] = MessageType[type];
  frame.write(jsonBody, HEADER_BYTES, 'utf8');
  return frame;
}

/** The two-byte prefix of a message type: what a SUB socket subscribes to. */
export function topicOf(type: MessageTypeName): Buffer {
  return Buffer.from([PROTOCOL_VERSION, MessageType[type]]);
}

/**
 * Decodes and validates one frame. Never throws: anything it cannot accept comes back as a
 * `ProtocolError` whose `reason` says why.
 */
export function decode(frame: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (frame.length < HEADER_BYTES + 2) return fail('too_short', `message of ${frame.length} bytes is shorter than a header and a JSON object`);
  if (frame.length > maxBytes) return fail('too_large', `message of ${frame.length} bytes exceeds the limit of ${maxBytes}`);
  const version = frame[0]!;
  const checks = checksByVersion.get(version);
  if (checks === undefined) return fail('unknown_version', `protocol version ${version} is not 1 or 2`);
  const type = nameByCode.get(frame[1]!);
  if (type === undefined) return fail('unknown_type', `message type 0x${frame[1]!.toString(16).padStart(2, '0')} is unknown`);
  if (options.accept && !options.accept.includes(type)) return fail('unexpected_type', `message type ${type} is not accepted here`);
  const check = checks[type];
  // Versions are per type: version 2 has Credit alone (PROTOCOL.md section 8).
  if (check === undefined) return fail('unknown_version', `message type ${type} has no version ${version}`);

  const bytes = Buffer.from(frame.buffer, frame.byteOffset + HEADER_BYTES, frame.length - HEADER_BYTES);
  // toString() would silently turn invalid UTF-8 into U+FFFD (two different ids could then collide).
  // ASCII, as nearly every body is, reads as latin1 to the same text at several times the speed:
  // the UTF-8 decode of a 4 MB Jobs frame was half a worker's time at 10 KB a job.
  const ascii = isAscii(bytes);
  if (!ascii && !isUtf8(bytes)) return fail('bad_json', 'body is not valid UTF-8');
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString(ascii ? 'latin1' : 'utf8'));
  } catch (error) {
    return fail('bad_json', `body is not JSON: ${(error as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('bad_json', 'body is not a JSON object');
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    const where = first?.path || '/';
    return fail('bad_fields', `${type} body is invalid at ${where}: ${first?.message ?? 'unknown error'}`);
  }
  if (type === 'Results') {
    // A handler span's ids are in its result's traceparent: it cannot come without one (PROTOCOL.md 6, check 8).
    const results = (body as { results: { handlerSpan?: unknown; traceparent?: unknown }[] }).results;
    const lone = results.findIndex((result) => result.handlerSpan !== undefined && result.traceparent === undefined);
    if (lone >= 0) return fail('bad_fields', `Results body is invalid at /results/${lone}/handlerSpan: a handler span needs the result's traceparent`);
  }
  if (type === 'Credit') {
    const lanes =
      version === PIPELINE_CREDIT_VERSION ? Object.entries((body as { pipelines: Record<string, ByteCounts> }).pipelines) : [['', body as ByteCounts] as const];
    const lone = lanes.find(([, lane]) => (lane.grantedBytes === undefined) !== (lane.receivedBytes === undefined));
    if (lone)
      return fail(
        'bad_fields',
        `Credit body is invalid at /${lone[0] ? `pipelines/${lone[0]}` : ''}: grantedBytes and receivedBytes come together or not at all`,
      );
  }
  if (version === PIPELINE_CREDIT_VERSION) {
    // Pipeline names are ids; JSON Schema cannot bound the length of an object's keys.
    const name = Object.keys((body as { pipelines: object }).pipelines).find((key) => key.length === 0 || key.length > MAX_ID_LENGTH);
    if (name !== undefined)
      return fail('bad_fields', `Credit body is invalid at /pipelines: pipeline name of ${name.length} characters (1 to ${MAX_ID_LENGTH})`);
    // The header decides the type and the version: body fields of those names (ignored extras) must not override them.
    return { ok: true, message: { ...(body as object), type, version } as Message };
  }
  // A version 1 body's own `version` field is an ignored extra too: only the header says 2.
  if (Object.hasOwn(body, 'version')) {
    const { version: _extra, ...rest } = body as Record<string, unknown>;
    return { ok: true, message: { ...rest, type } as Message };
  }
  return { ok: true, message: { ...(body as object), type } as Message };
}

/** A Credit's (or a lane's) counts in bytes, each optional. */
type ByteCounts = { grantedBytes?: unknown; receivedBytes?: unknown };

/** Narrows a decoded message to one type, for receivers that accept exactly one. */
export function isMessage<T extends MessageTypeName>(message: Message, type: T): message is MessageOf<T> {
  return message.type === type;
}

/** A job's `payload` and a result's `value` are required keys: JSON.stringify would drop them when undefined. */
function withNulls(type: MessageTypeName, body: Record<string, unknown>): Record<string, unknown> {
  if (type === 'Jobs') {
    const jobs = body.jobs as { payload?: unknown }[];
    if (Array.isArray(jobs) && jobs.some((job) => job.payload === undefined)) {
      return { ...body, jobs: jobs.map((job) => (job.payload === undefined ? { ...job, payload: null } : job)) };
    }
  } else if (type === 'Results') {
    const results = body.results as { ok: boolean; value?: unknown }[];
    if (Array.isArray(results) && results.some((result) => result.ok && result.value === undefined)) {
      return { ...body, results: results.map((result) => (result.ok && result.value === undefined ? { ...result, value: null } : result)) };
    }
  }
  return body;
}

function fail(reason: ProtocolError['reason'], text: string): DecodeResult {
  return { ok: false, error: new ProtocolError(reason, text) };
}
