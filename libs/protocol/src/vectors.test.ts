import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decode, encode } from './codec.js';
import type { MalformedReason } from './errors.js';
import { BodySchemas, MessageType, type Message, type MessageTypeName } from './messages.js';

interface ValidVector {
  name: string;
  hex: string;
  message: Message & Record<string, unknown>;
  decodeOnly?: boolean;
}
interface MalformedVector {
  name: string;
  hex: string;
  reason: MalformedReason;
  maxBytes?: number;
  accept?: MessageTypeName[];
}

const read = (path: string): unknown => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
const valid = read('../vectors/valid.json') as ValidVector[];
const malformed = read('../vectors/malformed.json') as MalformedVector[];
const typeNames = Object.keys(MessageType) as MessageTypeName[];
const bytes = (hex: string): Buffer => Buffer.from(hex, 'hex');

describe('valid vectors', () => {
  it('cover every message type, packed messages and failed results', () => {
    expect(new Set(valid.map((v) => v.message.type))).toEqual(new Set(typeNames));
    const packedJobs = valid.filter((v) => v.message.type === 'Jobs' && v.message.jobs.length > 1);
    const packedResults = valid.filter((v) => v.message.type === 'Results' && v.message.results.length > 1);
    const failedResults = valid.filter((v) => v.message.type === 'Results' && v.message.results.some((r) => !r.ok));
    expect(packedJobs.length).toBeGreaterThan(0);
    expect(packedResults.length).toBeGreaterThan(0);
    expect(failedResults.length).toBeGreaterThan(0);
  });

  it.each(valid.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const frame = bytes(v.hex);
    expect(frame.toString('hex')).toBe(v.hex); // the hex is well formed: no odd length, no stray characters
    expect(frame[0]).toBe((v.message as { version?: number }).version ?? 1);
    expect(frame[1]).toBe(MessageType[v.message.type]);

    const decoded = decode(frame);
    if (!decoded.ok) throw new Error(`${decoded.error.reason}: ${decoded.error.message}`);
    expect(decoded.message).toStrictEqual(v.message);
    // A receiver that accepts exactly this type takes it too.
    expect(decode(frame, { accept: [v.message.type] }).ok).toBe(true);
    // A Uint8Array view into a larger buffer decodes the same as a Buffer.
    const padded = new Uint8Array(frame.length + 7);
    padded.set(frame, 3);
    expect(decode(padded.subarray(3, 3 + frame.length))).toStrictEqual(decoded);

    if (!v.decodeOnly) expect(encode(v.message).toString('hex')).toBe(v.hex);
  });
});

describe('malformed vectors', () => {
  it('cover every reason the codec produces (bad_envelope belongs to the transport)', () => {
    const reasons: MalformedReason[] = ['too_short', 'too_large', 'unknown_version', 'unknown_type', 'bad_json', 'bad_fields', 'unexpected_type'];
    expect(new Set(malformed.map((v) => v.reason))).toEqual(new Set(reasons));
  });

  it('test bad_fields on every message type', () => {
    const types = malformed.filter((v) => v.reason === 'bad_fields').map((v) => bytes(v.hex)[1]);
    expect(new Set(types)).toEqual(new Set(Object.values(MessageType)));
  });

  it.each(malformed.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const frame = bytes(v.hex);
    expect(frame.toString('hex')).toBe(v.hex);
    const decoded = decode(frame, { maxBytes: v.maxBytes, accept: v.accept });
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.reason).toBe(v.reason);
    expect(decoded.error.name).toBe('ProtocolError');
    expect(decoded.error.message).not.toBe('');
    // Vectors that need an option fail only because of it: without it they must decode or fail for another reason.
    if (v.maxBytes !== undefined || v.accept !== undefined) {
      const plain = decode(frame);
      expect(plain.ok ? 'ok' : plain.error.reason).not.toBe(v.reason);
    }
  });
});

describe('checked-in JSON Schema', () => {
  it.each(typeNames)('schema/%s.json matches the TypeBox schema', (type) => {
    const file = read(`../schema/${type}.json`) as Record<string, unknown>;
    const { $schema, title, description, ...schema } = file;
    expect($schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(title).toBe(`${type} body`);
    expect(description).toContain(`0x${MessageType[type].toString(16).padStart(2, '0')}`);
    expect(schema).toStrictEqual(JSON.parse(JSON.stringify(BodySchemas[type])));
    // Additive fields stay legal: no object in a body schema forbids extra properties.
    expect(JSON.stringify(schema)).not.toContain('additionalProperties');
  });
});

describe('PROTOCOL.md examples', () => {
  const doc = readFileSync(new URL('../PROTOCOL.md', import.meta.url), 'utf8');
  // Example lines look like: 01 03 | {"worker":"worker-a","granted":8,"received":0}
  const examples = [...doc.matchAll(/^([0-9a-f]{2}) ([0-9a-f]{2}) \| (\{.*\})$/gm)];
  // Full hex dumps look like: hex: 0105...
  const dumps = [...doc.matchAll(/^hex: ([0-9a-f]+)$/gm)];

  it('has an example of every message type', () => {
    expect(new Set(examples.map((m) => Number.parseInt(m[2]!, 16)))).toEqual(new Set(Object.values(MessageType)));
    expect(dumps.length).toBeGreaterThan(0);
  });

  it('shows only frames that decode and re-encode byte for byte', () => {
    for (const [, version, code, json] of examples) {
      const frame = Buffer.concat([Buffer.from([Number.parseInt(version!, 16), Number.parseInt(code!, 16)]), Buffer.from(json!, 'utf8')]);
      const decoded = decode(frame);
      if (!decoded.ok) throw new Error(`example ${version} ${code} ${json}: ${decoded.error.message}`);
      expect(encode(decoded.message).equals(frame)).toBe(true);
    }
    for (const [, hex] of dumps) {
      const decoded = decode(bytes(hex!));
      if (!decoded.ok) throw new Error(`hex dump ${hex}: ${decoded.error.message}`);
      expect(encode(decoded.message).toString('hex')).toBe(hex);
    }
  });
});
