#!/usr/bin/env node
// Regenerates the protocol's checked-in data from the built codec:
//   vectors/valid.json      frames that decode to `message` (and, unless decodeOnly, that encode(message) reproduces)
//   vectors/malformed.json  frames that decode fails on, with the ProtocolError reason
//   schema/<Type>.json      the JSON Schema of each message body
// Usage: cd /work/main && npx tsc --build libs/protocol && node libs/protocol/scripts/make-vectors.mjs
// The script checks every vector against the codec before writing and exits 1 on any mismatch.
import { mkdirSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { BodySchemas, MessageType, PROTOCOL_VERSION, Version2BodySchemas, decode, encode } from '../dist/index.js';

const root = new URL('../', import.meta.url);
const hex = (bytes) => Buffer.from(bytes).toString('hex');
/** A frame from header bytes and a body given as text (UTF-8) or bytes. */
const frame = (version, code, body) => Buffer.concat([Buffer.from([version, code]), typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body)]);
const t = (type) => MessageType[type];

// ---------------------------------------------------------------- valid vectors
const job = (seq, payload, extra = {}) => ({ batch: 'b-7f3a', seq, attempt: 1, dispatchedAt: 1767225600000, payload, ...extra });
const ok = (seq, value, extra = {}) => ({ batch: 'b-7f3a', seq, attempt: 1, dispatchedAt: 1767225600000, durationMs: 12.5, ok: true, value, ...extra });
const failed = (seq, name, message, extra = {}) => ({
  batch: 'b-7f3a',
  seq,
  attempt: 3,
  dispatchedAt: 1767225600000,
  durationMs: 30000,
  ok: false,
  error: { name, message, ...extra },
});
/** A job's trace context (PROTOCOL.md 3.1, "Trace context"): its dispatch span in the trace of the submission. */
const TP_JOB = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
/** Its result's: the worker's handler span, a child of the job's. */
const TP_RESULT = '00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01';
const summary = {
  batch: 'b-7f3a',
  pipeline: 'primes',
  jobs: 3,
  failed: 1,
  duplicates: 0,
  wallSeconds: 1.25,
  jobsPerSecond: 2.4,
  perWorker: { 'worker-a': 2, 'worker-b': 1 },
  answer: { primes: 2 },
};

/** Canonical vectors: the hex is exactly encode(message). */
const canonical = [
  ['Jobs: one job', { type: 'Jobs', pipeline: 'primes', jobs: [job(0, 7)] }],
  [
    'Jobs: packed, three jobs with object, string and array payloads',
    {
      type: 'Jobs',
      pipeline: 'primes',
      jobs: [job(1, { n: 11, tags: ['x'] }), job(2, 'text'), job(3, [1, 2.5, true, null], { attempt: 2 })],
    },
  ],
  ['Jobs: null payload', { type: 'Jobs', pipeline: 'echo', jobs: [job(0, null)] }],
  [
    'Jobs: non-ASCII text in ids and payload (UTF-8)',
    {
      type: 'Jobs',
      pipeline: 'échos',
      jobs: [{ batch: 'lot-ü', seq: 9007199254740991, attempt: 1000000, dispatchedAt: 0, payload: 'naïve ☃ 😀' }],
    },
  ],
  ['Jobs: payload with characters JSON escapes', { type: 'Jobs', pipeline: 'echo', jobs: [job(0, 'quote " backslash \\ newline \n tab \t nul \u0000')] }],
  ['Results: one ok result', { type: 'Results', pipeline: 'primes', worker: 'worker-a', results: [ok(0, true)] }],
  [
    'Results: ok result with null value (a handler that returned undefined)',
    {
      type: 'Results',
      pipeline: 'echo',
      worker: 'worker-a',
      results: [ok(0, null)],
    },
  ],
  [
    'Results: one failed result',
    {
      type: 'Results',
      pipeline: 'primes',
      worker: 'worker-a',
      results: [failed(4, 'TimeoutError', 'handler ran longer than 30000 ms')],
    },
  ],
  [
    'Results: packed, ok and failed results mixed',
    {
      type: 'Results',
      pipeline: 'primes',
      worker: 'worker-b',
      results: [ok(1, { n: 11, prime: true }), failed(2, 'TypeError', "Cannot read properties of undefined (reading 'n')"), ok(3, [2, 3, 5])],
    },
  ],
  [
    'Jobs: traced and untraced jobs in one pack (traceparent)',
    {
      type: 'Jobs',
      pipeline: 'primes',
      jobs: [job(0, 7, { traceparent: TP_JOB }), job(1, 8)],
    },
  ],
  [
    "Results: a traced job's result carries a traceparent (and the job's tracestate)",
    {
      type: 'Results',
      pipeline: 'primes',
      worker: 'worker-a',
      results: [ok(0, true, { traceparent: TP_RESULT, tracestate: 'vendor=opaque' }), ok(1, false)],
    },
  ],
  [
    "Results: the worker's handler span, for the sink to export (handlerSpan; its parent is the job's span)",
    {
      type: 'Results',
      pipeline: 'primes',
      worker: 'worker-a',
      results: [
        ok(0, true, { traceparent: TP_RESULT, handlerSpan: { parentSpanId: TP_JOB.slice(36, 52), startedAt: 1767225600001.25 } }),
        // Another job of the batch, whose dispatch span was e457b5a2e4d86bd1.
        {
          ...failed(1, 'TypeError', 'n is not a number'),
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-53995c3f42cd8ad8-01',
          handlerSpan: { parentSpanId: 'e457b5a2e4d86bd1', startedAt: 1767225600002 },
        },
      ],
    },
  ],
  [
    'Results: failed result that must not be retried (error.retryable false)',
    {
      type: 'Results',
      pipeline: 'primes',
      worker: 'worker-a',
      results: [{ ...failed(6, 'NonRetryableError', 'GET /items/6: 404 Not Found', { retryable: false }), attempt: 1 }],
    },
  ],
  [
    'Results: failed result with empty error name and message',
    {
      type: 'Results',
      pipeline: 'primes',
      worker: 'worker-b',
      results: [failed(5, '', '')],
    },
  ],
  ['Credit: first grant of a session', { type: 'Credit', worker: 'worker-a', granted: 8, received: 0 }],
  ['Credit: later grant, doubles as heartbeat', { type: 'Credit', worker: 'worker-a', granted: 1032, received: 1027 }],
  [
    'Credit: with a credit in bytes (section 4a)',
    { type: 'Credit', worker: 'worker-a', granted: 1032, received: 1027, grantedBytes: 33554432, receivedBytes: 31457280 },
  ],
  ['Credit version 2: one pipeline', { type: 'Credit', version: 2, worker: 'worker-a', pipelines: { primes: { granted: 8, received: 0 } } }],
  [
    'Credit version 2: two pipelines, one with a credit in bytes',
    {
      type: 'Credit',
      version: 2,
      worker: 'worker-a',
      pipelines: { primes: { granted: 8, received: 3 }, echo: { granted: 4, received: 2, grantedBytes: 33554432, receivedBytes: 2048 } },
    },
  ],
  [
    "Credit version 2: with each lane's slots (for operators, never credit)",
    {
      type: 'Credit',
      version: 2,
      worker: 'worker-a',
      pipelines: { primes: { granted: 10, received: 3, slots: 4 }, echo: { granted: 3, received: 0, slots: 1 } },
    },
  ],
  ['Drain', { type: 'Drain', worker: 'worker-a', received: 1030 }],
  ['Drained', { type: 'Drained', sent: 1032 }],
  ['Drained: nothing was ever sent', { type: 'Drained', sent: 0 }],
  ['BatchStart', { type: 'BatchStart', batch: 'b-7f3a', pipeline: 'primes', startedAt: 1767225600000 }],
  ['BatchEnd', { type: 'BatchEnd', batch: 'b-7f3a', pipeline: 'primes', jobs: 3 }],
  ['Cancel: a whole batch', { type: 'Cancel', pipeline: 'primes', batch: 'b-7f3a' }],
  ['Cancel: some jobs of a batch', { type: 'Cancel', pipeline: 'primes', batch: 'b-7f3a', seqs: [4, 17] }],
  ['BatchProgress: total known', { type: 'BatchProgress', batch: 'b-7f3a', pipeline: 'primes', done: 2, failed: 1, total: 3 }],
  ['BatchProgress: total not yet known (null)', { type: 'BatchProgress', batch: 'b-7f3a', pipeline: 'primes', done: 500, failed: 0, total: null }],
  ['BatchCompleted', { type: 'BatchCompleted', summary }],
  [
    'BatchCompleted: no workers, null answer',
    {
      type: 'BatchCompleted',
      summary: { ...summary, jobs: 0, failed: 0, wallSeconds: 0, jobsPerSecond: 0, perWorker: {}, answer: null },
    },
  ],
  ['BatchCompleted: a cancelled batch', { type: 'BatchCompleted', summary: { ...summary, jobs: 10, cancelled: 7 } }],
  ['Recorded: one seq', { type: 'Recorded', batch: 'b-7f3a', seqs: [0] }],
  ['Recorded: packed seqs', { type: 'Recorded', batch: 'b-7f3a', seqs: [1, 2, 3, 500, 9007199254740991] }],
  [
    'Credit: unknown extra field (forward compatible: accepted, passed through, ignored)',
    {
      type: 'Credit',
      worker: 'worker-a',
      granted: 8,
      received: 0,
      zone: 'eu-1',
    },
  ],
];

/** Valid but not what encode() writes: decoders must accept them; encoders need not reproduce them. */
const decodeOnly = [
  [
    'Credit: a version 1 body with a field named "version" is still version 1',
    frame(1, t('Credit'), '{"worker":"w","granted":1,"received":0,"version":2}'),
    { type: 'Credit', worker: 'w', granted: 1, received: 0 },
  ],
  [
    'Credit version 2: a field named "version" in the body does not override the header',
    frame(2, t('Credit'), '{"worker":"w","pipelines":{"p":{"granted":1,"received":0,"zone":"eu-1"}},"version":1}'),
    { type: 'Credit', version: 2, worker: 'w', pipelines: { p: { granted: 1, received: 0, zone: 'eu-1' } } },
  ],
  ['Drained: whitespace around and inside the body', frame(1, t('Drained'), ' \n\t{ "sent" : 3 }\r\n'), { type: 'Drained', sent: 3 }],
  ['Drained: integer written as 3.0 and as 3e0', frame(1, t('Drained'), '{"sent":3.0,"x":3e0}'), { type: 'Drained', sent: 3, x: 3 }],
  [
    'Credit: keys in another order, \\u escapes in a string',
    frame(1, t('Credit'), '{"received":0,"granted":8,"worker":"w\\u00e9"}'),
    { type: 'Credit', worker: 'wé', granted: 8, received: 0 },
  ],
  [
    'Credit: a body field named "type" does not override the header',
    frame(1, t('Credit'), '{"worker":"w","granted":1,"received":0,"type":"Jobs"}'),
    { type: 'Credit', worker: 'w', granted: 1, received: 0 },
  ],
  [
    'Results: error.retryable true, as good as absent',
    frame(
      1,
      t('Results'),
      '{"pipeline":"p","worker":"w","results":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"durationMs":1,"ok":false,"error":{"name":"Error","message":"try again","retryable":true}}]}',
    ),
    {
      type: 'Results',
      pipeline: 'p',
      worker: 'w',
      results: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: false, error: { name: 'Error', message: 'try again', retryable: true } }],
    },
  ],
  [
    'Jobs: a job with extra fields',
    frame(1, t('Jobs'), '{"pipeline":"p","jobs":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"payload":1,"priority":5}]}'),
    { type: 'Jobs', pipeline: 'p', jobs: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload: 1, priority: 5 }] },
  ],
];

const valid = [
  ...canonical.map(([name, message]) => ({ name, hex: hex(encode(message)), message })),
  ...decodeOnly.map(([name, bytes, message]) => ({ name, hex: hex(bytes), message, decodeOnly: true })),
];

// ------------------------------------------------------------ malformed vectors
const id201 = 'x'.repeat(201);
const body = (o) => JSON.stringify(o);
const drained = (o) => frame(1, t('Drained'), body(o));
const credit = (o) => frame(1, t('Credit'), body({ worker: 'w', granted: 1, received: 0, ...o }));
const jobs = (j, top = {}) =>
  frame(1, t('Jobs'), body({ pipeline: 'p', jobs: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload: null, ...j }], ...top }));
const result = (r) =>
  frame(1, t('Results'), body({ pipeline: 'p', worker: 'w', results: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, durationMs: 1, ...r }] }));
const without = (o, key) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

const malformed = [
  // too_short: fewer than 4 bytes (header + the shortest JSON object "{}")
  ['empty frame', [], 'too_short'],
  ['one byte', [1], 'too_short'],
  ['header only', [1, t('Drained')], 'too_short'],
  ['header and one body byte', [1, t('Drained'), 0x7b], 'too_short'],
  // too_large: longer than maxBytes (checked before anything else but too_short)
  ['one byte over maxBytes', drained({ sent: 1 }), 'too_large', { maxBytes: 11 }],
  ['too_large wins over unknown_version', frame(2, t('Drained'), '{"sent":1}'), 'too_large', { maxBytes: 8 }],
  // unknown_version
  ['version 0', frame(0, t('Drained'), '{"sent":1}'), 'unknown_version'],
  ['version 2 of a type that has none (Drained)', frame(2, t('Drained'), '{"sent":1}'), 'unknown_version'],
  ['version 2 of Jobs', frame(2, t('Jobs'), '{"pipeline":"p","jobs":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"payload":null}]}'), 'unknown_version'],
  ['version 3', frame(3, t('Credit'), '{"worker":"w","pipelines":{"p":{"granted":1,"received":0}}}'), 'unknown_version'],
  ['version 255', frame(255, t('Drained'), '{"sent":1}'), 'unknown_version'],
  ['version 0x7b (a bare JSON body without header)', Buffer.from('{"sent":1}'), 'unknown_version'],
  // unknown_type
  ['type 0x00', frame(1, 0x00, '{"sent":1}'), 'unknown_type'],
  ['type 0x09 (reserved)', frame(1, 0x09, '{"sent":1}'), 'unknown_type'],
  ['type 0x13 (reserved)', frame(1, 0x13, '{"sent":1}'), 'unknown_type'],
  ['type 0xff', frame(1, 0xff, '{"sent":1}'), 'unknown_type'],
  // unexpected_type: known type that this receiver does not accept (checked before the body is read)
  ['Jobs at the ventilator ROUTER', jobs({}), 'unexpected_type', { accept: ['Credit', 'Drain'] }],
  ['Credit at a worker DEALER', credit({}), 'unexpected_type', { accept: ['Jobs', 'Drained'] }],
  ['Recorded at the sink PULL', frame(1, t('Recorded'), '{"batch":"b","seqs":[0]}'), 'unexpected_type', { accept: ['Results', 'BatchStart', 'BatchEnd'] }],
  ['Results at a SUB subscriber', result({ ok: true, value: 1 }), 'unexpected_type', { accept: ['BatchProgress', 'BatchCompleted', 'Recorded'] }],
  ['unexpected_type wins over a body that is not JSON', frame(1, t('Jobs'), 'nope'), 'unexpected_type', { accept: ['Credit', 'Drain'] }],
  // bad_json: body not UTF-8, not JSON, or not a JSON object
  ['body is not JSON', frame(1, t('Drained'), 'nope'), 'bad_json'],
  ['body is truncated JSON', frame(1, t('Drained'), '{"sent":1'), 'bad_json'],
  ['body has trailing bytes after the object', frame(1, t('Drained'), '{"sent":1}x'), 'bad_json'],
  ['body is two objects', frame(1, t('Drained'), '{"sent":1}{"sent":2}'), 'bad_json'],
  ['body uses single quotes', frame(1, t('Drained'), "{'sent':1}"), 'bad_json'],
  ['body has a trailing comma', frame(1, t('Drained'), '{"sent":1,}'), 'bad_json'],
  ['body is NaN', frame(1, t('Drained'), '{"sent":NaN}'), 'bad_json'],
  ['body is a JSON array', frame(1, t('Drained'), '[{"sent":1}]'), 'bad_json'],
  ['body is a JSON string', frame(1, t('Drained'), '"sent"'), 'bad_json'],
  ['body is a JSON number', frame(1, t('Drained'), '1234'), 'bad_json'],
  ['body is JSON null', frame(1, t('Drained'), 'null'), 'bad_json'],
  ['body is JSON true', frame(1, t('Drained'), 'true'), 'bad_json'],
  ['body starts with a UTF-8 byte order mark', frame(1, t('Drained'), '\ufeff{"sent":1}'), 'bad_json'],
  [
    'body has invalid UTF-8 (0xff) inside a string',
    frame(1, t('Credit'), Buffer.concat([Buffer.from('{"worker":"'), Buffer.from([0xff]), Buffer.from('","granted":1,"received":0}')])),
    'bad_json',
  ],
  [
    'body has an overlong UTF-8 encoding (0xc0 0xaf)',
    frame(1, t('Credit'), Buffer.concat([Buffer.from('{"worker":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('","granted":1,"received":0}')])),
    'bad_json',
  ],
  [
    'body has a UTF-8 encoded surrogate (0xed 0xa0 0x80)',
    frame(1, t('Credit'), Buffer.concat([Buffer.from('{"worker":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","granted":1,"received":0}')])),
    'bad_json',
  ],
  [
    'body has a truncated UTF-8 sequence at the end of a string',
    frame(1, t('Credit'), Buffer.concat([Buffer.from('{"worker":"a'), Buffer.from([0xe2, 0x98]), Buffer.from('","granted":1,"received":0}')])),
    'bad_json',
  ],
  // bad_fields: a JSON object that does not match the type's schema
  ['Drained: empty object', frame(1, t('Drained'), '{}'), 'bad_fields'],
  ['Credit: grantedBytes without receivedBytes', frame(1, t('Credit'), '{"worker":"w","granted":1,"received":0,"grantedBytes":4096}'), 'bad_fields'],
  [
    'Credit version 2: a lane with receivedBytes without grantedBytes',
    frame(2, t('Credit'), '{"worker":"w","pipelines":{"primes":{"granted":1,"received":0,"receivedBytes":0}}}'),
    'bad_fields',
  ],
  ['Drained: sent missing', drained({ count: 1 }), 'bad_fields'],
  ['Drained: sent is a string', drained({ sent: '1' }), 'bad_fields'],
  ['Drained: sent is negative', drained({ sent: -1 }), 'bad_fields'],
  ['Drained: sent is not an integer', drained({ sent: 1.5 }), 'bad_fields'],
  ['Drained: sent above 2^53-1', frame(1, t('Drained'), '{"sent":9007199254740992}'), 'bad_fields'],
  ['Drained: sent overflows to Infinity (1e400)', frame(1, t('Drained'), '{"sent":1e400}'), 'bad_fields'],
  ['Drained: sent is null', drained({ sent: null }), 'bad_fields'],
  ['Credit: worker is empty', credit({ worker: '' }), 'bad_fields'],
  ['Credit: worker longer than 200', credit({ worker: id201 }), 'bad_fields'],
  ['Credit: worker is a number', credit({ worker: 7 }), 'bad_fields'],
  ['Credit: slots is 0', credit({ slots: 0 }), 'bad_fields'],
  [
    'Credit version 2: a lane whose slots is not an integer',
    frame(2, t('Credit'), '{"worker":"w","pipelines":{"p":{"granted":1,"received":0,"slots":2.5}}}'),
    'bad_fields',
  ],
  ['Credit: granted missing', frame(1, t('Credit'), '{"worker":"w","received":0}'), 'bad_fields'],
  ['Credit version 2: a version 1 body (no pipelines)', frame(2, t('Credit'), '{"worker":"w","granted":1,"received":0}'), 'bad_fields'],
  ['Credit version 2: no pipeline listed', frame(2, t('Credit'), '{"worker":"w","pipelines":{}}'), 'bad_fields'],
  ['Credit version 2: pipelines is an array', frame(2, t('Credit'), '{"worker":"w","pipelines":[{"granted":1,"received":0}]}'), 'bad_fields'],
  ['Credit version 2: a lane without received', frame(2, t('Credit'), '{"worker":"w","pipelines":{"p":{"granted":1}}}'), 'bad_fields'],
  ['Credit version 2: a lane granted -1', frame(2, t('Credit'), '{"worker":"w","pipelines":{"p":{"granted":-1,"received":0}}}'), 'bad_fields'],
  ['Credit version 2: an empty pipeline name', frame(2, t('Credit'), '{"worker":"w","pipelines":{"":{"granted":1,"received":0}}}'), 'bad_fields'],
  [
    'Credit version 2: a pipeline name longer than 200',
    frame(2, t('Credit'), `{"worker":"w","pipelines":{"${id201}":{"granted":1,"received":0}}}`),
    'bad_fields',
  ],
  [
    'Credit version 2: 65 pipelines',
    frame(2, t('Credit'), body({ worker: 'w', pipelines: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, { granted: 1, received: 0 }])) })),
    'bad_fields',
  ],
  ['Drain: received missing', frame(1, t('Drain'), '{"worker":"w"}'), 'bad_fields'],
  ['Jobs: jobs is empty', frame(1, t('Jobs'), '{"pipeline":"p","jobs":[]}'), 'bad_fields'],
  ['Jobs: jobs is an object', frame(1, t('Jobs'), '{"pipeline":"p","jobs":{}}'), 'bad_fields'],
  ['Jobs: pipeline missing', frame(1, t('Jobs'), '{"jobs":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"payload":null}]}'), 'bad_fields'],
  ['Jobs: payload key missing', frame(1, t('Jobs'), '{"pipeline":"p","jobs":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0}]}'), 'bad_fields'],
  ['Jobs: attempt is 0', jobs({ attempt: 0 }), 'bad_fields'],
  ['Jobs: attempt above 1000000', jobs({ attempt: 1000001 }), 'bad_fields'],
  ['Jobs: seq is negative', jobs({ seq: -1 }), 'bad_fields'],
  ['Jobs: batch is empty', jobs({ batch: '' }), 'bad_fields'],
  ['Jobs: dispatchedAt is negative', jobs({ dispatchedAt: -1 }), 'bad_fields'],
  ['Jobs: dispatchedAt is an ISO date string', jobs({ dispatchedAt: '2026-01-01T00:00:00Z' }), 'bad_fields'],
  [
    'Jobs: second job invalid',
    frame(
      1,
      t('Jobs'),
      '{"pipeline":"p","jobs":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"payload":null},{"batch":"b","seq":"1","attempt":1,"dispatchedAt":0,"payload":null}]}',
    ),
    'bad_fields',
  ],
  ['Results: ok true without value', result({ ok: true }), 'bad_fields'],
  ['Results: ok false without error', result({ ok: false }), 'bad_fields'],
  ['Results: ok is a string', result({ ok: 'yes', value: 1 }), 'bad_fields'],
  ['Results: ok missing', result({ value: 1 }), 'bad_fields'],
  ['Results: error without message', result({ ok: false, error: { name: 'Error' } }), 'bad_fields'],
  ['Results: error name longer than 200', result({ ok: false, error: { name: id201, message: '' } }), 'bad_fields'],
  ['Results: error is a string', result({ ok: false, error: 'boom' }), 'bad_fields'],
  ['Jobs: traceparent in upper case', jobs({ traceparent: TP_JOB.toUpperCase() }), 'bad_fields'],
  ['Jobs: traceparent of an unknown version (01)', jobs({ traceparent: `01${TP_JOB.slice(2)}` }), 'bad_fields'],
  ['Jobs: traceparent with a short span id', jobs({ traceparent: TP_JOB.slice(0, 50) + TP_JOB.slice(52) }), 'bad_fields'],
  ['Jobs: traceparent is a number', jobs({ traceparent: 1 }), 'bad_fields'],
  ['Jobs: traceparent with a trailing field', jobs({ traceparent: `${TP_JOB}-00` }), 'bad_fields'],
  ['Results: traceparent is empty', result({ ok: true, value: null, traceparent: '' }), 'bad_fields'],
  ['Results: traceparent is null', result({ ok: true, value: null, traceparent: null }), 'bad_fields'],
  ['Results: tracestate longer than 512', result({ ok: true, value: null, traceparent: TP_RESULT, tracestate: `k=${'v'.repeat(511)}` }), 'bad_fields'],
  [
    'Results: handlerSpan without a traceparent',
    result({ ok: true, value: null, handlerSpan: { parentSpanId: '00f067aa0ba902b7', startedAt: 0 } }),
    'bad_fields',
  ],
  [
    'Results: handlerSpan.parentSpanId in upper case',
    result({ ok: true, value: null, traceparent: TP_RESULT, handlerSpan: { parentSpanId: '00F067AA0BA902B7', startedAt: 0 } }),
    'bad_fields',
  ],
  [
    'Results: handlerSpan.startedAt missing',
    result({ ok: true, value: null, traceparent: TP_RESULT, handlerSpan: { parentSpanId: '00f067aa0ba902b7' } }),
    'bad_fields',
  ],
  [
    'Results: handlerSpan.startedAt is negative',
    result({ ok: true, value: null, traceparent: TP_RESULT, handlerSpan: { parentSpanId: '00f067aa0ba902b7', startedAt: -1 } }),
    'bad_fields',
  ],
  ['Results: error.retryable is a string', result({ ok: false, error: { name: 'Error', message: '', retryable: 'no' } }), 'bad_fields'],
  ['Results: error.retryable is null', result({ ok: false, error: { name: 'Error', message: '', retryable: null } }), 'bad_fields'],
  ['Results: durationMs is negative', result({ ok: true, value: 1, durationMs: -0.5 }), 'bad_fields'],
  [
    'Results: worker missing',
    frame(1, t('Results'), '{"pipeline":"p","results":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"durationMs":1,"ok":true,"value":1}]}'),
    'bad_fields',
  ],
  ['Results: results is empty', frame(1, t('Results'), '{"pipeline":"p","worker":"w","results":[]}'), 'bad_fields'],
  ['BatchStart: startedAt missing', frame(1, t('BatchStart'), '{"batch":"b","pipeline":"p"}'), 'bad_fields'],
  ['BatchEnd: jobs is negative', frame(1, t('BatchEnd'), '{"batch":"b","pipeline":"p","jobs":-3}'), 'bad_fields'],
  ['Cancel: seqs is empty', frame(1, t('Cancel'), '{"pipeline":"p","batch":"b","seqs":[]}'), 'bad_fields'],
  ['BatchProgress: total is a string', frame(1, t('BatchProgress'), '{"batch":"b","pipeline":"p","done":1,"failed":0,"total":"n/a"}'), 'bad_fields'],
  ['BatchProgress: total missing (null must be explicit)', frame(1, t('BatchProgress'), '{"batch":"b","pipeline":"p","done":1,"failed":0}'), 'bad_fields'],
  ['BatchCompleted: summary missing', frame(1, t('BatchCompleted'), '{"batch":"b"}'), 'bad_fields'],
  [
    'BatchCompleted: perWorker count is negative',
    frame(1, t('BatchCompleted'), body({ summary: { ...summary, perWorker: { 'worker-a': -1 } } })),
    'bad_fields',
  ],
  ['BatchCompleted: answer key missing', frame(1, t('BatchCompleted'), body({ summary: without(summary, 'answer') })), 'bad_fields'],
  ['Recorded: seqs is empty', frame(1, t('Recorded'), '{"batch":"b","seqs":[]}'), 'bad_fields'],
  ['Recorded: a seq is negative', frame(1, t('Recorded'), '{"batch":"b","seqs":[1,-2]}'), 'bad_fields'],
  ['Recorded: seqs holds job ids instead of seqs', frame(1, t('Recorded'), '{"batch":"b","seqs":["b:1"]}'), 'bad_fields'],
].map(([name, bytes, reason, options = {}]) => ({ name, hex: hex(bytes), reason, ...options }));

// -------------------------------------------------------------- check, then write
let problems = 0;
const complain = (text) => {
  problems++;
  console.error(text);
};
for (const v of valid) {
  const decoded = decode(Buffer.from(v.hex, 'hex'));
  if (!decoded.ok) complain(`valid vector "${v.name}" fails: ${decoded.error.reason} ${decoded.error.message}`);
  else if (!isDeepStrictEqual({ ...decoded.message }, v.message)) complain(`valid vector "${v.name}" decodes to ${JSON.stringify(decoded.message)}`);
  if (!v.decodeOnly && hex(encode(v.message)) !== v.hex) complain(`valid vector "${v.name}" does not re-encode`);
}
for (const v of malformed) {
  const decoded = decode(Buffer.from(v.hex, 'hex'), { maxBytes: v.maxBytes, accept: v.accept });
  if (decoded.ok) complain(`malformed vector "${v.name}" decodes`);
  else if (decoded.error.reason !== v.reason) complain(`malformed vector "${v.name}" fails with ${decoded.error.reason}, not ${v.reason}`);
}
const names = [...valid, ...malformed].map((v) => v.name);
if (new Set(names).size !== names.length) complain('vector names are not unique');
if (problems > 0) process.exit(1);

mkdirSync(new URL('vectors/', root), { recursive: true });
writeFileSync(new URL('vectors/valid.json', root), `${JSON.stringify(valid, null, 2)}\n`);
writeFileSync(new URL('vectors/malformed.json', root), `${JSON.stringify(malformed, null, 2)}\n`);

mkdirSync(new URL('schema/', root), { recursive: true });
const schemas = [
  ...Object.entries(BodySchemas).map(([type, schema]) => [type, PROTOCOL_VERSION, schema, `${type}.json`]),
  ...Object.entries(Version2BodySchemas).map(([type, schema]) => [type, 2, schema, `${type}.v2.json`]),
];
for (const [type, version, schema, file] of schemas) {
  const code = `0x${MessageType[type].toString(16).padStart(2, '0')}`;
  const document = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: `${type} body${version === PROTOCOL_VERSION ? '' : `, version ${version}`}`,
    description: `Body of a jobpipe ${type} message (version byte ${version}, type code ${code}): the UTF-8 JSON after the two header bytes. See PROTOCOL.md.`,
    // JSON.stringify drops TypeBox's symbol keys, which leaves plain JSON Schema.
    ...JSON.parse(JSON.stringify(schema)),
  };
  writeFileSync(new URL(`schema/${file}`, root), `${JSON.stringify(document, null, 2)}\n`);
}
console.log(`wrote ${valid.length} valid and ${malformed.length} malformed vectors, ${schemas.length} schemas`);
