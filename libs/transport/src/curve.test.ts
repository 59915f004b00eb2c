import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { curveKeyPair } from 'zeromq';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@jobpipe/config';
import { curvePublicKey, exposedInTheClear, isCurveKey, isLoopbackEndpoint, SocketSecurity } from './curve.js';
import { curveClientFrom, curveClientSettings, curveServerFrom, curveServerSettings } from './curve-settings.js';
import { z85Decode, z85Encode } from './z85.js';

describe('Z85', () => {
  it('encodes the example of ZeroMQ RFC 32', () => {
    const bytes = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    expect(z85Encode(bytes)).toBe('HelloWorld');
    expect([...z85Decode('HelloWorld')]).toEqual([...bytes]);
  });

  it('decodes what it encodes, for any bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }).filter((b) => b.length % 4 === 0),
        (bytes) => {
          expect([...z85Decode(z85Encode(bytes))]).toEqual([...bytes]);
        },
      ),
    );
  });

  it('refuses characters outside the alphabet, lengths it cannot hold and groups above 32 bits', () => {
    expect(() => z85Decode('Hello Worl')).toThrow(/not a Z85 character/);
    expect(() => z85Decode('Hell')).toThrow(/multiple of 5/);
    expect(() => z85Decode('#####')).toThrow(/out of Z85 range/);
    expect(() => z85Encode(new Uint8Array(3))).toThrow(/multiples of 4 bytes/);
  });
});

describe('CURVE keys', () => {
  it("derives the same public key as zeromq's key pair generator", () => {
    for (let i = 0; i < 20; i++) {
      const pair = curveKeyPair();
      expect(isCurveKey(pair.publicKey) && isCurveKey(pair.secretKey)).toBe(true);
      expect(curvePublicKey(pair.secretKey)).toBe(pair.publicKey);
    }
  });

  it('tells a key from other text', () => {
    expect(isCurveKey('x'.repeat(39))).toBe(false);
    expect(isCurveKey(`${'x'.repeat(39)} `)).toBe(false);
    expect(isCurveKey('#'.repeat(40))).toBe(false); // each group overflows 32 bits
  });

  it('knows loopback endpoints from exposed ones', () => {
    for (const endpoint of ['tcp://127.0.0.1:5557', 'tcp://localhost:1', 'tcp://[::1]:5557', 'ipc:///tmp/x', 'inproc://a'])
      expect(isLoopbackEndpoint(endpoint), endpoint).toBe(true);
    for (const endpoint of ['tcp://*:5557', 'tcp://0.0.0.0:5557', 'tcp://10.0.0.5:5557', 'tcp://[::]:5557', 'tcp://eth0:5557'])
      expect(isLoopbackEndpoint(endpoint), endpoint).toBe(false);
    expect(exposedInTheClear(SocketSecurity.plain(), ['tcp://*:1', 'tcp://127.0.0.1:2'])).toEqual(['tcp://*:1']);
    const keyed = SocketSecurity.forServer({ secretKey: curveKeyPair().secretKey, allowedClients: new Set() });
    expect(exposedInTheClear(keyed, ['tcp://*:1'])).toEqual([]);
  });
});

describe('CURVE settings', () => {
  const server = curveKeyPair();
  const client = curveKeyPair();
  const other = curveKeyPair();

  it('reads an allow-list from a file, one key per line with notes, or from a comma-separated env var', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobpipe-curve-'));
    try {
      writeFileSync(join(dir, 'allow'), `${client.publicKey}  worker-1\n\n${other.publicKey}\n`);
      writeFileSync(join(dir, 'secret'), `${server.secretKey}\n`);
      const fromFiles = curveServerFrom(
        loadConfig(curveServerSettings, { env: { JOBPIPE_CURVE_SERVER_SECRET_FILE: join(dir, 'secret'), JOBPIPE_CURVE_CLIENT_KEYS_FILE: join(dir, 'allow') } }),
      );
      expect(fromFiles?.secretKey).toBe(server.secretKey);
      expect([...fromFiles!.allowedClients]).toEqual([client.publicKey, other.publicKey]);
      const fromEnv = curveServerFrom(
        loadConfig(curveServerSettings, {
          env: { JOBPIPE_CURVE_SERVER_SECRET: server.secretKey, JOBPIPE_CURVE_CLIENT_KEYS: `${client.publicKey},${other.publicKey}` },
        }),
      );
      expect([...fromEnv!.allowedClients]).toEqual([client.publicKey, other.publicKey]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is off with no keys, and refuses half a configuration', () => {
    expect(curveServerFrom(loadConfig(curveServerSettings, { env: {} }))).toBeUndefined();
    expect(curveClientFrom(loadConfig(curveClientSettings, { env: {} }))).toBeUndefined();
    expect(() => curveServerFrom(loadConfig(curveServerSettings, { env: { JOBPIPE_CURVE_SERVER_SECRET: server.secretKey } }))).toThrow(/without an allow-list/);
    expect(() => curveClientFrom(loadConfig(curveClientSettings, { env: { JOBPIPE_CURVE_SECRET: client.secretKey } }))).toThrow(
      /JOBPIPE_CURVE_SERVER_KEY is not/,
    );
    expect(() => loadConfig(curveServerSettings, { env: { JOBPIPE_CURVE_CLIENT_KEYS: `${client.publicKey},nope` } })).toThrow(/key 2 is not a CURVE key/);
  });

  it('gives a server role client options made from its own key pair, which its allow-list includes', () => {
    const security = SocketSecurity.forServer({ secretKey: server.secretKey, allowedClients: new Set([client.publicKey]) });
    expect(security.bindOptions()).toMatchObject({ curveServer: true, curveSecretKey: server.secretKey, zapDomain: 'jobpipe' });
    expect(security.connectOptions()).toEqual({ curveServerKey: server.publicKey, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey });
    expect(SocketSecurity.plain().bindOptions()).toEqual({});
  });
});
