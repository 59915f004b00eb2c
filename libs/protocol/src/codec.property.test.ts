import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_MESSAGE_BYTES, decode, encode, encodeRaw, type DecodeOptions } from './codec.js';
import type { MalformedReason } from './errors.js';
import { BodySchemas, MessageType, PIPELINE_CREDIT_VERSION, PROTOCOL_VERSION, Version2BodySchemas, type Message, type MessageTypeName } from './messages.js';
import type { TSchema } from '@sinclair/typebox';

const typeNames = Object.keys(MessageType) as MessageTypeName[];
const codes = Object.values(MessageType) as number[];
const REASONS: readonly MalformedReason[] = ['too_short', 'too_large', 'unknown_version', 'unknown_type', 'bad_json', 'bad_fields', 'unexpected_type'];

// ----------------------------------------------------------------------------- a reference model
// An independent statement of what decode must do: the same order of checks, but WHATWG's fatal
// TextDecoder for UTF-8 (ignoreBOM keeps a BOM, which JSON then rejects) and TypeBox's interpreter
// (Value.Check) instead of the codec's compiled checks.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
type Outcome = { ok: true; message: Record<string, unknown> } | { ok: false; reason: MalformedReason };

function model(frame: Uint8Array, options: DecodeOptions = {}): Outcome {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (frame.length < 4) return { ok: false, reason: 'too_short' };
  if (frame.length > maxBytes) return { ok: false, reason: 'too_large' };
  const version = frame[0];
  if (version !== PROTOCOL_VERSION && version !== PIPELINE_CREDIT_VERSION) return { ok: false, reason: 'unknown_version' };
  const type = typeNames.find((name) => MessageType[name] === frame[1]);
  if (type === undefined) return { ok: false, reason: 'unknown_type' };
  if (options.accept && !options.accept.includes(type)) return { ok: false, reason: 'unexpected_type' };
  // Version 2 has Credit alone.
  if (version === PIPELINE_CREDIT_VERSION && type !== 'Credit') return { ok: false, reason: 'unknown_version' };
  let body: unknown;
  try {
    body = JSON.parse(utf8.decode(frame.subarray(2)));
  } catch {
    return { ok: false, reason: 'bad_json' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reason: 'bad_json' };
  if (!Value.Check(schemaOf(type, version), body)) return { ok: false, reason: 'bad_fields' };
  const { version: _ignored, ...fields } = body as Record<string, unknown>;
  if (version === PIPELINE_CREDIT_VERSION) {
    const names = Object.keys(fields.pipelines as object);
    if (names.some((name) => name.length < 1 || name.length > 200)) return { ok: false, reason: 'bad_fields' };
    return { ok: true, message: { ...fields, type, version } };
  }
  return { ok: true, message: { ...fields, type } };
}

function schemaOf(type: MessageTypeName, version: number): TSchema {
  return version === PIPELINE_CREDIT_VERSION ? Version2BodySchemas.Credit : BodySchemas[type];
}

/** Decodes, checks the result's shape, and compares it with the model. */
function decodeAndCheck(frame: Uint8Array, options: DecodeOptions = {}): void {
  const actual = decode(frame, options); // must not throw
  const expected = model(frame, options);
  if (actual.ok) {
    const { type } = actual.message;
    expect(MessageType[type]).toBe(frame[1]);
    expect(Value.Check(schemaOf(type, frame[0]!), actual.message)).toBe(true);
    expect(expected).toStrictEqual({ ok: true, message: actual.message });
  } else {
    expect(actual.error.name).toBe('ProtocolError');
    expect(REASONS).toContain(actual.error.reason);
    expect(actual.error.message.length).toBeGreaterThan(0);
    expect(expected).toStrictEqual({ ok: false, reason: actual.error.reason });
  }
}

// ------------------------------------------------------------------------- arbitrary valid messages
/** fc.record without fast-check 4's default of null-prototype objects (decode returns plain ones). */
const record: typeof fc.record = ((model: never, constraints?: object) => fc.record(model, { noNullPrototype: true, ...constraints })) as typeof fc.record;
const id = fc.oneof(
  fc.string({ minLength: 1, maxLength: 200 }), // printable ASCII
  fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }), // any code point: at most 200 UTF-16 units
  fc.string({ unit: fc.constantFrom('a', '"', '\\', '\u0000', '\n', '\u2028', 'é', '😀', '\ud800', '\udfff'), minLength: 1, maxLength: 100 }),
);
const count = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const attempt = fc.integer({ min: 1, max: 1_000_000 });
const nonNegative = fc.oneof(
  fc.maxSafeNat(),
  fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map((x) => x + 0),
); // -0 + 0 is 0
// JSON has no -0 (JSON.stringify writes 0): normalise it, the only value jsonValue makes that does not survive a trip through JSON.
const json = fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.parse(JSON.stringify(value)) as fc.JsonValue);
/** Fields a later protocol version might add: receivers must accept and ignore them. */
const extra = fc.dictionary(
  fc.string({ maxLength: 8 }).map((key) => `x-${key}`),
  json,
  { maxKeys: 2, noNullPrototype: true },
);
const withExtra = <T extends object>(arb: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.tuple(arb, fc.option(extra, { nil: undefined })).map(([value, more]) => (more ? { ...value, ...more } : value));

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
/** A W3C traceparent as the protocol takes it (version 00, lower-case hex): PROTOCOL.md 3.1, "Trace context". */
const traceparent = fc.tuple(hex(32), hex(16), hex(2)).map(([trace, span, flags]) => `00-${trace}-${span}-${flags}`);
/** The optional trace fields of a job or result: none, a traceparent, or both. */
const traceFields = record({ traceparent, tracestate: fc.string({ maxLength: 512 }) }, { requiredKeys: [] });
const traced = <T extends object>(arb: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.tuple(arb, traceFields).map(([value, trace]) => (Object.keys(trace).length > 0 ? { ...value, ...trace } : value));

const job = withExtra(traced(record({ batch: id, seq: count, attempt, dispatchedAt: nonNegative, payload: json })));
const resultBase = { batch: id, seq: count, attempt, dispatchedAt: nonNegative, durationMs: nonNegative };
const result = fc.oneof(
  withExtra(traced(record({ ...resultBase, ok: fc.constant(true as const), value: json }))),
  withExtra(
    traced(
      record({
        ...resultBase,
        ok: fc.constant(false as const),
        error: record(
          { name: fc.string({ maxLength: 200 }), message: fc.string({ maxLength: 500 }), retryable: fc.boolean() },
          { requiredKeys: ['name', 'message'] },
        ),
      }),
    ),
  ),
);
const summary = record({
  batch: id,
  pipeline: id,
  jobs: count,
  failed: count,
  duplicates: count,
  wallSeconds: nonNegative,
  jobsPerSecond: nonNegative,
  perWorker: fc.dictionary(id, count, { maxKeys: 4, noNullPrototype: true }),
  answer: json,
});

const messageOf: { [T in MessageTypeName]: fc.Arbitrary<Extract<Message, { type: T }>> } = {
  Jobs: record({ type: fc.constant('Jobs' as const), pipeline: id, jobs: fc.array(job, { minLength: 1, maxLength: 5 }) }),
  Results: record({ type: fc.constant('Results' as const), pipeline: id, worker: id, results: fc.array(result, { minLength: 1, maxLength: 5 }) }),
  Credit: record({ type: fc.constant('Credit' as const), worker: id, granted: count, received: count }),
  Drain: record({ type: fc.constant('Drain' as const), worker: id, received: count }),
  Drained: record({ type: fc.constant('Drained' as const), sent: count }),
  BatchStart: record({ type: fc.constant('BatchStart' as const), batch: id, pipeline: id, startedAt: nonNegative }),
  BatchEnd: record({ type: fc.constant('BatchEnd' as const), batch: id, pipeline: id, jobs: count }),
  Cancel: record(
    { type: fc.constant('Cancel' as const), pipeline: id, batch: id, seqs: fc.array(count, { minLength: 1, maxLength: 20 }) },
    { requiredKeys: ['type', 'pipeline', 'batch'] },
  ),
  BatchProgress: record({
    type: fc.constant('BatchProgress' as const),
    batch: id,
    pipeline: id,
    done: count,
    failed: count,
    total: fc.option(count, { nil: null }),
  }),
  BatchCompleted: record({ type: fc.constant('BatchCompleted' as const), summary }),
  Recorded: record({ type: fc.constant('Recorded' as const), batch: id, seqs: fc.array(count, { minLength: 1, maxLength: 20 }) }),
};
const anyMessage: fc.Arbitrary<Message> = fc.oneof(...typeNames.map((type) => withExtra(messageOf[type] as fc.Arbitrary<Message>)));
const acceptList = fc.subarray(typeNames);
const bodyOf = (message: Message): Record<string, unknown> => {
  const { type: _type, ...body } = message;
  return body;
};

// ------------------------------------------------------------------------------------- properties
describe('round trip', () => {
  it.each(typeNames)('encode then decode gives back any valid %s message, and re-encodes to the same bytes', (type) => {
    fc.assert(
      fc.property(messageOf[type] as fc.Arbitrary<Message>, (message) => {
        expect(Value.Check(BodySchemas[type], bodyOf(message))).toBe(true); // the generator makes valid messages
        const frame = encode(message);
        expect(frame[0]).toBe(PROTOCOL_VERSION);
        expect(frame[1]).toBe(MessageType[type]);
        const decoded = decode(frame, { accept: [type] });
        if (!decoded.ok) throw decoded.error;
        expect(decoded.message).toStrictEqual(message);
        expect(encode(decoded.message).equals(frame)).toBe(true);
        expect(encodeRaw(type, JSON.stringify(bodyOf(message))).equals(frame)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('encode then decode gives back any valid version 2 Credit, with its version byte', () => {
    // A credit in bytes comes whole (PROTOCOL.md 4a): both counts or neither.
    const lane = fc.oneof(record({ granted: count, received: count }), record({ granted: count, received: count, grantedBytes: count, receivedBytes: count }));
    // Names of Object.prototype's members ("constructor") are fine on the wire, but the test's
    // strict equality reads an own "constructor" as the object's type.
    const name = fc.string({ minLength: 1, maxLength: 60 }).filter((key) => key !== '__proto__' && !(key in Object.prototype));
    const credit = record({
      type: fc.constant('Credit' as const),
      version: fc.constant(PIPELINE_CREDIT_VERSION as 2),
      worker: id,
      pipelines: fc.dictionary(name, lane, { minKeys: 1, maxKeys: 5, noNullPrototype: true }),
    });
    fc.assert(
      fc.property(credit, (message) => {
        const frame = encode(message);
        expect([frame[0], frame[1]]).toEqual([PIPELINE_CREDIT_VERSION, MessageType.Credit]);
        const decoded = decode(frame, { accept: ['Credit'] });
        if (!decoded.ok) throw decoded.error;
        expect(decoded.message).toStrictEqual(message);
        expect(encode(decoded.message).equals(frame)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('passes unknown extra fields through, and the header type always wins over a body field named "type"', () => {
    fc.assert(
      fc.property(anyMessage, fc.constantFrom(...typeNames), json, (message, otherType, typeField) => {
        const decoded = decode(encode(message));
        if (!decoded.ok) throw decoded.error;
        expect(decoded.message).toStrictEqual(message);
        const lying = decode(encodeRaw(message.type, JSON.stringify({ ...bodyOf(message), type: otherType === message.type ? typeField : otherType })));
        if (!lying.ok) throw lying.error;
        expect(lying.message.type).toBe(message.type);
        expect(decode(encodeRaw(message.type, JSON.stringify({ ...bodyOf(message), type: otherType })), { accept: [message.type] }).ok).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts a message exactly when its type is in the accept list', () => {
    fc.assert(
      fc.property(anyMessage, acceptList, (message, accept) => {
        const decoded = decode(encode(message), { accept });
        expect(decoded.ok ? 'ok' : decoded.error.reason).toBe(accept.includes(message.type) ? 'ok' : 'unexpected_type');
      }),
      { numRuns: 200 },
    );
  });
});

describe('decode never throws', () => {
  const header = fc.tuple(
    fc.constantFrom(PROTOCOL_VERSION, PROTOCOL_VERSION, 0, 2, 0xff),
    fc.oneof(fc.constantFrom(...codes), fc.integer({ min: 0, max: 255 })),
  );
  const options: fc.Arbitrary<DecodeOptions> = record({ maxBytes: fc.integer({ min: 0, max: 400 }), accept: acceptList }, { requiredKeys: [] });
  const frames = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(header, fc.uint8Array({ maxLength: 300 })).map(([[v, t], body]) => Uint8Array.from([v, t, ...body])),
    fc.tuple(header, fc.string({ unit: 'binary', maxLength: 100 })).map(([[v, t], body]) => Buffer.concat([Buffer.from([v, t]), Buffer.from(body)])),
    fc.tuple(header, fc.jsonValue({ maxDepth: 3 })).map(([[v, t], body]) => Buffer.concat([Buffer.from([v, t]), Buffer.from(JSON.stringify(body) ?? '')])),
  );

  it('on arbitrary bytes: it returns exactly what the reference model says', () => {
    fc.assert(
      fc.property(frames, options, (frame, opts) => decodeAndCheck(frame, opts)),
      { numRuns: 1500 },
    );
  });

  type Mutation =
    | { kind: 'flip'; at: number; bit: number }
    | { kind: 'set'; at: number; value: number }
    | { kind: 'insert'; at: number; value: number }
    | { kind: 'delete'; at: number }
    | { kind: 'truncate'; at: number };
  const at = fc.nat();
  const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...Buffer.from('{}[]",:-.0123456789eE tfn\\u').values(), 0x80, 0xc0, 0xed, 0xff));
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    record({ kind: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
    record({ kind: fc.constant('set' as const), at, value: byte }),
    record({ kind: fc.constant('insert' as const), at, value: byte }),
    record({ kind: fc.constant('delete' as const), at }),
    record({ kind: fc.constant('truncate' as const), at }),
  );
  function mutate(frame: Buffer, mutations: Mutation[]): Uint8Array {
    const bytes = [...frame];
    for (const m of mutations) {
      const i = bytes.length === 0 ? 0 : m.at % (bytes.length + (m.kind === 'insert' ? 1 : 0));
      if (m.kind === 'flip' && bytes.length > 0) bytes[i] = bytes[i]! ^ (1 << m.bit);
      else if (m.kind === 'set' && bytes.length > 0) bytes[i] = m.value;
      else if (m.kind === 'insert') bytes.splice(i, 0, m.value);
      else if (m.kind === 'delete') bytes.splice(i, 1);
      else if (m.kind === 'truncate') bytes.length = i;
    }
    return Uint8Array.from(bytes);
  }

  it('on mutated valid frames (flip, set, insert, delete, truncate): it returns what the model says', () => {
    let survivors = 0;
    let rejected = 0;
    fc.assert(
      fc.property(anyMessage, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.option(acceptList, { nil: undefined }), (message, mutations, accept) => {
        const frame = mutate(encode(message), mutations);
        decodeAndCheck(frame, { accept });
        if (decode(frame).ok) survivors++;
        else rejected++;
      }),
      { numRuns: 1500 },
    );
    // Both outcomes must actually occur, or the property above tested less than it claims.
    expect(survivors).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  const DELETE = Symbol('delete');
  /** Replaces or deletes the value at a path of random indices into the body's objects and arrays. */
  function mutateJson(body: unknown, path: number[], replacement: unknown): unknown {
    const copy = structuredClone(body);
    let node = copy as Record<string, unknown> | unknown[];
    for (let depth = 0; depth < path.length; depth++) {
      const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
      if (keys.length === 0) break;
      const key = keys[path[depth]! % keys.length]!;
      const child = (node as Record<string | number, unknown>)[key];
      const last = depth === path.length - 1 || typeof child !== 'object' || child === null;
      if (last) {
        if (replacement === DELETE) {
          if (Array.isArray(node)) node.splice(key as number, 1);
          else delete node[key as string];
        } else (node as Record<string | number, unknown>)[key] = replacement;
        break;
      }
      node = child as Record<string, unknown> | unknown[];
    }
    return copy;
  }

  it('on bodies with a field deleted or replaced: it succeeds or says bad_fields, as the model says', () => {
    const reasons = new Set<string>();
    fc.assert(
      fc.property(
        anyMessage,
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.oneof(fc.constant(DELETE), json, fc.constantFrom(-1, 0, 1.5, '', 'x'.repeat(201), null, 2 ** 53, [], {})),
        (message, path, replacement) => {
          const body = mutateJson(bodyOf(message), path, replacement);
          const frame = encodeRaw(message.type, JSON.stringify(body));
          decodeAndCheck(frame);
          const decoded = decode(frame);
          reasons.add(decoded.ok ? 'ok' : decoded.error.reason);
        },
      ),
      { numRuns: 1000 },
    );
    expect([...reasons].sort()).toEqual(['bad_fields', 'ok']);
  });
});

describe('trace context', () => {
  const oneJob = (extra: Record<string, unknown>) =>
    encodeRaw('Jobs', JSON.stringify({ pipeline: 'p', jobs: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload: null, ...extra }] }));
  const oneResult = (extra: Record<string, unknown>) =>
    encodeRaw(
      'Results',
      JSON.stringify({
        pipeline: 'p',
        worker: 'w',
        results: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, durationMs: 0, ok: true, value: 1, ...extra }],
      }),
    );
  const wellFormed = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

  it('a job or result whose traceparent is a version 00 traceparent decodes; any other string is bad_fields', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          traceparent,
          fc.string({ maxLength: 60 }),
          traceparent.map((t) => t.toUpperCase()),
          traceparent.map((t) => `${t}-x`),
        ),
        (value) => {
          for (const frame of [oneJob({ traceparent: value }), oneResult({ traceparent: value })]) {
            const decoded = decode(frame);
            expect(decoded.ok ? 'ok' : decoded.error.reason).toBe(wellFormed.test(value) ? 'ok' : 'bad_fields');
          }
        },
      ),
    );
  });

  it('a tracestate is any string of at most 512 code units', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (tracestate) => {
        const decoded = decode(oneResult({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate }));
        expect(decoded.ok).toBe(tracestate.length <= 512);
      }),
    );
  });
});

describe('size limit', () => {
  it('a frame one or more bytes over maxBytes is too_large; at maxBytes it decodes', () => {
    fc.assert(
      fc.property(anyMessage, fc.integer({ min: 1, max: 1000 }), (message, over) => {
        const frame = encode(message);
        const maxBytes = Math.max(0, frame.length - over);
        const decoded = decode(frame, { maxBytes });
        expect(decoded.ok ? 'ok' : decoded.error.reason).toBe('too_large');
        expect(decode(frame, { maxBytes: frame.length }).ok).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('any frame of 4 bytes or more over maxBytes is too_large, whatever its content', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 5, maxLength: 200 }), fc.nat(), (frame, n) => {
        const maxBytes = 4 + (n % (frame.length - 4)); // 4 .. length-1
        const decoded = decode(frame, { maxBytes });
        expect(decoded.ok ? 'ok' : decoded.error.reason).toBe('too_large');
      }),
    );
  });

  it('defaults to 4 MiB', () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(4 * 1024 * 1024);
    const empty = encode({ type: 'Jobs', pipeline: 'p', jobs: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload: '' }] });
    const payload = 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES - empty.length);
    const atLimit = encode({ type: 'Jobs', pipeline: 'p', jobs: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload }] });
    expect(atLimit.length).toBe(DEFAULT_MAX_MESSAGE_BYTES);
    expect(decode(atLimit).ok).toBe(true);
    const overLimit = Buffer.concat([atLimit.subarray(0, atLimit.length - 4), Buffer.from('x"}]}')]);
    expect(overLimit.length).toBe(DEFAULT_MAX_MESSAGE_BYTES + 1);
    const decoded = decode(overLimit);
    expect(decoded.ok ? 'ok' : decoded.error.reason).toBe('too_large');
  });
});
