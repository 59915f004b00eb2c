/**
 * What compose and Kubernetes must both get right about CURVE keys (deploy-compose.test.ts,
 * deploy-k8s.test.ts): each role gets only its own files of the set `jobpipe keys --out` writes,
 * no worker gets a key that lets it act as another role, and the roles' loaded settings form one
 * key set.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { curveClientFrom, curvePublicKey, sinkCurveFrom, ventilatorCurveFrom } from '@jobpipe/transport';

/**
 * The files of the flat key set each role reads, and nothing more: what `jobpipe keys --by-role`
 * writes into DIR/<role>/, what each compose service's keys volume holds and what each Kubernetes
 * pod projects of the Secret jobpipe-curve. `events` is the console (and any other client that
 * follows the sink's events).
 */
export const ROLE_KEY_FILES: Readonly<Record<'ventilator' | 'sink' | 'worker' | 'events', readonly string[]>> = {
  ventilator: ['clients.allow', 'link.secret', 'server.secret'],
  sink: ['clients.allow', 'events.public', 'link.public', 'server.secret'],
  worker: ['client-1.secret', 'server.public'],
  events: ['events.secret', 'server.public'],
};

/** Which key files a jobpipe role reads (the console reads the events files). */
export function keyFilesOf(role: string): readonly string[] {
  const files = role === 'console' ? ROLE_KEY_FILES.events : ROLE_KEY_FILES[role as keyof typeof ROLE_KEY_FILES];
  if (files === undefined) throw new Error(`no key files for role ${role}`);
  return files;
}

/**
 * The secrets that would let a worker act as another role: a server (server.secret), the
 * ventilator's link to the sink (link.secret), an events follower (events.secret).
 */
export const NOT_FOR_WORKERS = ['server.secret', 'link.secret', 'events.secret'] as const;

/** Every file of the flat key set `jobpipe keys --out` writes (one client). */
export const FLAT_KEY_FILES = [
  'client-1.public',
  'client-1.secret',
  'clients.allow',
  'events.public',
  'events.secret',
  'link.public',
  'link.secret',
  'server.public',
  'server.secret',
] as const;

/**
 * Fails if a container could read one of `secrets` of the flat key set in `flatDir`: `readable`
 * holds the text of every file it can read (by where it is), and a secret counts by its key, so
 * that a copy under another name (or inside another file) counts too.
 */
export function expectNoSecretOf(flatDir: string, secrets: readonly string[], readable: Record<string, string>, name: string): void {
  for (const secret of secrets) {
    const key = readFileSync(join(flatDir, secret), 'utf8').trim();
    expect(key.length, `${secret} of the flat set`).toBe(40);
    for (const [path, text] of Object.entries(readable)) expect(text.includes(key), `${name} can read ${secret} (its key is in ${path})`).toBe(false);
  }
}

/**
 * `configs` holds each role's loaded settings: ventilator, sink, worker and console. Checks that
 * they fit together as the key model says: the servers share one key pair, which every client
 * trusts; the workers' key is admitted by both servers as a worker's, and is no link or events key;
 * the ventilator's link key is on the sink's link list and on no worker list; the console's key is
 * on the sink's events list only; the servers' own public key is on no list.
 */
export function expectOneKeySet(configs: Record<string, any>): void {
  const ventilator = ventilatorCurveFrom(configs.ventilator)!;
  const sink = sinkCurveFrom(configs.sink)!;
  const worker = curveClientFrom(configs.worker)!;
  const console = curveClientFrom(configs.console)!;
  for (const [name, side] of Object.entries({ ventilator, sink, worker, console })) expect(side, `CURVE on for the ${name}`).toBeDefined();
  expect(sink.secretKey, 'the servers share one key pair').toBe(ventilator.server.secretKey);
  const serverPublic = curvePublicKey(ventilator.server.secretKey);
  expect(worker.serverKey, "the workers trust the servers' public key (server.public)").toBe(serverPublic);
  expect(console.serverKey, "the console trusts the servers' public key").toBe(serverPublic);
  expect(ventilator.link.serverKey, "the ventilator's link trusts the sink's public key").toBe(serverPublic);

  const workerPublic = curvePublicKey(worker.secretKey);
  const linkPublic = curvePublicKey(ventilator.link.secretKey);
  const consolePublic = curvePublicKey(console.secretKey);
  expect(new Set([serverPublic, workerPublic, linkPublic, consolePublic]).size, 'four key pairs: server, worker, link, events').toBe(4);

  // The ventilator's jobs socket: the workers, and no other key.
  expect(ventilator.server.workerKeys.has(workerPublic), "the ventilator admits the workers' key").toBe(true);
  expect(ventilator.server.workerKeys.has(linkPublic), "the ventilator's workerKeys hold no link key").toBe(false);
  expect(ventilator.server.workerKeys.has(serverPublic), "the ventilator's workerKeys hold no server key").toBe(false);
  expect(ventilator.server.workerKeys.has(consolePublic), "the ventilator's workerKeys hold no events key").toBe(false);
  // The sink: workers on results, the link on results and events, the console on events only.
  expect(sink.workerKeys.has(workerPublic), "the sink admits the workers' key on results").toBe(true);
  expect(sink.linkKeys.has(linkPublic), "the sink's linkKeys hold the ventilator's link public key").toBe(true);
  expect(sink.eventsKeys.has(consolePublic), "the console's key is in the sink's eventsKeys").toBe(true);
  expect(sink.workerKeys.has(consolePublic), "the console's key is not in the sink's workerKeys").toBe(false);
  expect(sink.linkKeys.has(consolePublic), "the console's key is not in the sink's linkKeys").toBe(false);
  expect(sink.workerKeys.has(linkPublic), "the link key is not in the sink's workerKeys").toBe(false);
  for (const [list, keys] of Object.entries({ linkKeys: sink.linkKeys, eventsKeys: sink.eventsKeys }))
    expect(keys.has(workerPublic), `the workers' key is not in the sink's ${list}: a worker key gets no events`).toBe(false);
  for (const [list, keys] of Object.entries({ workerKeys: sink.workerKeys, linkKeys: sink.linkKeys, eventsKeys: sink.eventsKeys }))
    expect(keys.has(serverPublic), `the servers' own public key is not in the sink's ${list}`).toBe(false);
}

/**
 * A worker that is no jobpipe role here (the Python worker, workers/python), by the key files it
 * reads: it trusts the servers' public key and presents a key pair both servers admit as a
 * worker's, and that is no link or events key. `configs` as above.
 */
export function expectWorkerKeysFit(configs: Record<string, any>, files: { serverKey: string; secretKey: string }, name: string): void {
  const ventilator = ventilatorCurveFrom(configs.ventilator)!;
  const sink = sinkCurveFrom(configs.sink)!;
  expect(files.serverKey.trim(), `${name} trusts the servers' public key`).toBe(curvePublicKey(ventilator.server.secretKey));
  const publicKey = curvePublicKey(files.secretKey.trim());
  expect(ventilator.server.workerKeys.has(publicKey), `the ventilator admits the key of ${name}`).toBe(true);
  expect(sink.workerKeys.has(publicKey), `the sink admits the key of ${name}`).toBe(true);
  expect(sink.linkKeys.has(publicKey), `the key of ${name} is no link key`).toBe(false);
  expect(sink.eventsKeys.has(publicKey), `the key of ${name} is no events key`).toBe(false);
}

/** The CURVE settings each role is given, each a file of its own key files: setting -> file. */
export const CURVE_FILE_SETTINGS: Readonly<Record<'ventilator' | 'sink' | 'worker' | 'console', Readonly<Record<string, string>>>> = {
  ventilator: {
    JOBPIPE_CURVE_SERVER_SECRET_FILE: 'server.secret',
    JOBPIPE_CURVE_CLIENT_KEYS_FILE: 'clients.allow',
    JOBPIPE_CURVE_LINK_SECRET_FILE: 'link.secret',
  },
  sink: {
    JOBPIPE_CURVE_SERVER_SECRET_FILE: 'server.secret',
    JOBPIPE_CURVE_CLIENT_KEYS_FILE: 'clients.allow',
    JOBPIPE_CURVE_LINK_KEYS_FILE: 'link.public',
    JOBPIPE_CURVE_EVENTS_KEYS_FILE: 'events.public',
  },
  worker: { JOBPIPE_CURVE_SERVER_KEY_FILE: 'server.public', JOBPIPE_CURVE_SECRET_FILE: 'client-1.secret' },
  console: { JOBPIPE_CURVE_SERVER_KEY_FILE: 'server.public', JOBPIPE_CURVE_SECRET_FILE: 'events.secret' },
};

/** The CURVE settings of a role (the Python worker's are a worker's). */
export function curveFileSettingsOf(role: string): Readonly<Record<string, string>> {
  const settings = CURVE_FILE_SETTINGS[role as keyof typeof CURVE_FILE_SETTINGS];
  if (settings === undefined) throw new Error(`no CURVE settings for role ${role}`);
  return settings;
}
