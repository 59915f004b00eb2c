import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { curveKeyPair } from 'zeromq';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@jobpipe/config';
import { admittedOn, curvePublicKey, exposedInTheClear, isCurveKey, isLoopbackEndpoint, SocketSecurity } from './curve.js';
import { curveClientFrom, curveClientSettings, sinkCurveFrom, sinkCurveSettings, ventilatorCurveFrom, ventilatorCurveSettings } from './curve-settings.js';
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
    const keyed = SocketSecurity.forSink({ secretKey: curveKeyPair().secretKey, workerKeys: new Set(), linkKeys: new Set(), eventsKeys: new Set() });
    expect(exposedInTheClear(keyed, ['tcp://*:1'])).toEqual([]);
  });
});

describe('CURVE settings', () => {
  const server = curveKeyPair();
  const client = curveKeyPair();
  const other = curveKeyPair();
  const link = curveKeyPair();
  const events = curveKeyPair();
  const sinkEnv = {
    JOBPIPE_CURVE_SERVER_SECRET: server.secretKey,
    JOBPIPE_CURVE_CLIENT_KEYS: client.publicKey,
    JOBPIPE_CURVE_LINK_KEYS: link.publicKey,
    JOBPIPE_CURVE_EVENTS_KEYS: events.publicKey,
  };
  const sink = (env: Record<string, string>) => sinkCurveFrom(loadConfig(sinkCurveSettings, { env }));
  const ventilator = (env: Record<string, string>) => ventilatorCurveFrom(loadConfig(ventilatorCurveSettings, { env }));

  it('reads an allow-list from a file, one key per line with notes, or from a comma-separated env var', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobpipe-curve-'));
    try {
      writeFileSync(join(dir, 'allow'), `${client.publicKey}  worker-1\n\n${other.publicKey}\n`);
      writeFileSync(join(dir, 'secret'), `${server.secretKey}\n`);
      writeFileSync(join(dir, 'link.public'), `${link.publicKey}\n`);
      const fromFiles = sink({
        JOBPIPE_CURVE_SERVER_SECRET_FILE: join(dir, 'secret'),
        JOBPIPE_CURVE_CLIENT_KEYS_FILE: join(dir, 'allow'),
        JOBPIPE_CURVE_LINK_KEYS_FILE: join(dir, 'link.public'),
      });
      expect(fromFiles?.secretKey).toBe(server.secretKey);
      expect([...fromFiles!.workerKeys]).toEqual([client.publicKey, other.publicKey]);
      expect([...fromFiles!.linkKeys]).toEqual([link.publicKey]);
      expect([...fromFiles!.eventsKeys]).toEqual([]);
      const fromEnv = sink({ ...sinkEnv, JOBPIPE_CURVE_CLIENT_KEYS: `${client.publicKey},${other.publicKey}` });
      expect([...fromEnv!.workerKeys]).toEqual([client.publicKey, other.publicKey]);
      expect([...fromEnv!.eventsKeys]).toEqual([events.publicKey]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is off with no keys, and refuses half a configuration', () => {
    expect(sink({})).toBeUndefined();
    expect(ventilator({})).toBeUndefined();
    expect(curveClientFrom(loadConfig(curveClientSettings, { env: {} }))).toBeUndefined();
    expect(() => sink({ JOBPIPE_CURVE_SERVER_SECRET: server.secretKey, JOBPIPE_CURVE_LINK_KEYS: link.publicKey })).toThrow(/without an allow-list/);
    expect(() => curveClientFrom(loadConfig(curveClientSettings, { env: { JOBPIPE_CURVE_SECRET: client.secretKey } }))).toThrow(
      /JOBPIPE_CURVE_SERVER_KEY is not/,
    );
    expect(() => loadConfig(sinkCurveSettings, { env: { JOBPIPE_CURVE_CLIENT_KEYS: `${client.publicKey},nope` } })).toThrow(/key 2 is not a CURVE key/);
    // The link: the ventilator needs its key, the sink the list that admits it.
    expect(() => ventilator({ JOBPIPE_CURVE_SERVER_SECRET: server.secretKey, JOBPIPE_CURVE_CLIENT_KEYS: client.publicKey })).toThrow(
      /JOBPIPE_CURVE_LINK_SECRET is not: the ventilator reaches the sink with a key pair of its own/,
    );
    expect(() => sink({ JOBPIPE_CURVE_SERVER_SECRET: server.secretKey, JOBPIPE_CURVE_CLIENT_KEYS: client.publicKey })).toThrow(
      /JOBPIPE_CURVE_LINK_KEYS is not/,
    );
    expect(() => ventilator({ JOBPIPE_CURVE_LINK_SECRET: link.secretKey })).toThrow(/JOBPIPE_CURVE_LINK_SECRET is set but JOBPIPE_CURVE_SERVER_SECRET is not/);
    expect(() => sink({ JOBPIPE_CURVE_EVENTS_KEYS: events.publicKey })).toThrow(/JOBPIPE_CURVE_EVENTS_KEYS is set but JOBPIPE_CURVE_SERVER_SECRET is not/);
  });

  it('refuses a key that would let one role act as another: the server key or a link or events key among the workers', () => {
    expect(() => sink({ ...sinkEnv, JOBPIPE_CURVE_CLIENT_KEYS: `${client.publicKey},${server.publicKey}` })).toThrow(
      /JOBPIPE_CURVE_CLIENT_KEYS holds the server key pair's public key/,
    );
    expect(() => sink({ ...sinkEnv, JOBPIPE_CURVE_LINK_KEYS: server.publicKey })).toThrow(/JOBPIPE_CURVE_LINK_KEYS holds the server key pair's public key/);
    expect(() => sink({ ...sinkEnv, JOBPIPE_CURVE_CLIENT_KEYS: `${client.publicKey},${link.publicKey}` })).toThrow(
      /JOBPIPE_CURVE_LINK_KEYS shares 1 key with JOBPIPE_CURVE_CLIENT_KEYS: a link key must not be a worker key/,
    );
    expect(() => sink({ ...sinkEnv, JOBPIPE_CURVE_EVENTS_KEYS: client.publicKey })).toThrow(/JOBPIPE_CURVE_EVENTS_KEYS shares 1 key/);
    expect(() =>
      ventilator({ JOBPIPE_CURVE_SERVER_SECRET: server.secretKey, JOBPIPE_CURVE_CLIENT_KEYS: link.publicKey, JOBPIPE_CURVE_LINK_SECRET: link.secretKey }),
    ).toThrow(/JOBPIPE_CURVE_LINK_SECRET shares 1 key with JOBPIPE_CURVE_CLIENT_KEYS: the link key must not be a worker key/);
  });

  it('admits on each socket only the keys of the roles that belong there, never the server key', () => {
    const curve = sink(sinkEnv)!;
    expect([...admittedOn(curve, 'jobs')]).toEqual([client.publicKey]);
    expect([...admittedOn(curve, 'results')].sort()).toEqual([client.publicKey, link.publicKey].sort());
    expect([...admittedOn(curve, 'events')].sort()).toEqual([link.publicKey, events.publicKey].sort());
    // Even given by a library caller that skipped the settings' checks.
    const careless = { ...curve, workerKeys: new Set([client.publicKey, server.publicKey, link.publicKey]) };
    expect([...admittedOn(careless, 'jobs')]).toEqual([client.publicKey]);
  });

  it('gives the ventilator its link key to reach the sink, and binds each socket in a ZAP domain of its own', () => {
    const curve = ventilator({
      JOBPIPE_CURVE_SERVER_SECRET: server.secretKey,
      JOBPIPE_CURVE_CLIENT_KEYS: client.publicKey,
      JOBPIPE_CURVE_LINK_SECRET: link.secretKey,
    })!;
    const security = SocketSecurity.forVentilator(curve);
    expect(security.bindOptions('jobs')).toMatchObject({ curveServer: true, curveSecretKey: server.secretKey, zapDomain: 'jobpipe-jobs' });
    expect(security.connectOptions()).toEqual({ curveServerKey: server.publicKey, curveSecretKey: link.secretKey, curvePublicKey: link.publicKey });
    expect(security.clientPublicKey).toBe(link.publicKey);
    expect(SocketSecurity.forSink(sink(sinkEnv)).bindOptions('events')).toMatchObject({ zapDomain: 'jobpipe-events' });
    expect(SocketSecurity.plain().bindOptions('jobs')).toEqual({});
  });
});
