import { ConfigError, eitherOf as either, valueOrFile, type Setting } from '@jobpipe/config';
import { curvePublicKey, isCurveKey, type CurveClient, type CurveServer } from './curve.js';

function curveKey(raw: string): string {
  const value = raw.trim();
  // The message never repeats the value: it may be a secret.
  if (!isCurveKey(value)) throw new Error(`is not a CURVE key (40 Z85 characters, as \`jobpipe keys\` prints), got ${value.length} characters`);
  return value;
}

function curveKeyList(raw: string): string[] {
  // Keys separated by commas or lines. After a key, a space starts a note ("<key>  worker-3"):
  // `#` cannot mark comments, it is a Z85 character.
  const keys = raw
    .split(/[\n,]/)
    .map((entry) => entry.trim().split(/\s+/)[0]!)
    .filter((key) => key !== '');
  if (keys.length === 0) throw new Error('holds no key');
  return keys.map((key, i) => {
    try {
      return curveKey(key);
    } catch (error) {
      throw new Error(`key ${i + 1} ${(error as Error).message}`);
    }
  });
}

const serverSecret = valueOrFile(
  'JOBPIPE_CURVE_SERVER_SECRET',
  'curve-server-secret',
  'ventilator and sink: secret key of the server key pair (Z85); turns CURVE on for their sockets. Prefer the _FILE form to a flag (visible in ps)',
  curveKey,
);
const clientKeys = valueOrFile(
  'JOBPIPE_CURVE_CLIENT_KEYS',
  'curve-client-keys',
  "ventilator and sink: the workers' public keys (Z85, separated by commas or lines; text after a key and a space is a note): admitted on jobs and results, nowhere else",
  curveKeyList,
);
const linkSecret = valueOrFile(
  'JOBPIPE_CURVE_LINK_SECRET',
  'curve-link-secret',
  'ventilator: secret key of its own key pair for its link to the sink (Z85; `jobpipe keys` writes link.secret); needed once CURVE is on. Prefer the _FILE form',
  curveKey,
);
const linkKeys = valueOrFile(
  'JOBPIPE_CURVE_LINK_KEYS',
  'curve-link-keys',
  "sink: the ventilators' link public keys (Z85, separated by commas or lines): admitted on results and events; needed once CURVE is on",
  curveKeyList,
);
const eventsKeys = valueOrFile(
  'JOBPIPE_CURVE_EVENTS_KEYS',
  'curve-events-keys',
  'sink: public keys admitted on events only (the console, a program following batches with BatchEvents; Z85, separated by commas or lines)',
  curveKeyList,
);
const serverKey = valueOrFile(
  'JOBPIPE_CURVE_SERVER_KEY',
  'curve-server-key',
  'worker, console, clients following events: public key of the server key pair (Z85); turns CURVE on for their sockets',
  curveKey,
);
const secret = valueOrFile(
  'JOBPIPE_CURVE_SECRET',
  'curve-secret',
  "worker, console, clients following events: this client's secret key (Z85); a worker's public key must be in the servers' JOBPIPE_CURVE_CLIENT_KEYS, a follower's in the sink's JOBPIPE_CURVE_EVENTS_KEYS. Prefer the _FILE form to a flag (visible in ps)",
  curveKey,
);

const serverSettings = {
  curveServerSecret: serverSecret.value,
  curveServerSecretFile: serverSecret.file,
  curveClientKeys: clientKeys.value,
  curveClientKeysFile: clientKeys.file,
};

/** The ventilator's CURVE settings: its server key pair, the workers' keys, and its link key to the sink. */
export const ventilatorCurveSettings = {
  ...serverSettings,
  curveLinkSecret: linkSecret.value,
  curveLinkSecretFile: linkSecret.file,
};

/** The sink's CURVE settings: its server key pair, and the keys of workers, ventilators' links and events followers. */
export const sinkCurveSettings = {
  ...serverSettings,
  curveLinkKeys: linkKeys.value,
  curveLinkKeysFile: linkKeys.file,
  curveEventsKeys: eventsKeys.value,
  curveEventsKeysFile: eventsKeys.file,
};

/** Settings of a role that only connects (worker, console). */
export const curveClientSettings = {
  curveServerKey: serverKey.value,
  curveServerKeyFile: serverKey.file,
  curveSecret: secret.value,
  curveSecretFile: secret.file,
};

type ConfigOf<S> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };
type ServerConfig = ConfigOf<typeof serverSettings>;

/** The server side common to both servers; undefined when no keys are set. Throws ConfigError on half a configuration. */
function serverFrom(config: ServerConfig): { secretKey: string; workerKeys: Set<string> } | undefined {
  const secretKey = either(config.curveServerSecret, config.curveServerSecretFile, serverSecret);
  const allowed = either(config.curveClientKeys, config.curveClientKeysFile, clientKeys);
  if (secretKey === undefined && allowed === undefined) return undefined;
  if (secretKey === undefined) {
    throw new ConfigError(
      serverSecret.value.env,
      serverSecret.value.flag,
      `${clientKeys.value.env} is set but ${serverSecret.value.env} is not: CURVE needs the server's secret key`,
    );
  }
  if (allowed === undefined) {
    throw new ConfigError(
      clientKeys.value.env,
      clientKeys.value.flag,
      `${serverSecret.value.env} is set but ${clientKeys.value.env} is not: without an allow-list any client could connect`,
    );
  }
  const workerKeys = new Set(allowed);
  if (workerKeys.has(curvePublicKey(secretKey)))
    throw new ConfigError(
      clientKeys.value.env,
      clientKeys.value.flag,
      `${clientKeys.value.env} holds the server key pair's public key: a worker needs a key pair of its own (\`jobpipe keys\`), or whoever holds the server's secret could take jobs`,
    );
  return { secretKey, workerKeys };
}

/** A role's own CURVE setting given without the server secret that turns CURVE on. */
function withoutServerSecret(setting: { value: { env: string; flag: string } }): ConfigError {
  return new ConfigError(
    setting.value.env,
    setting.value.flag,
    `${setting.value.env} is set but ${serverSecret.value.env} is not: CURVE needs the server's secret key`,
  );
}

/** A list of keys that must not share a key with the workers' list. */
function notWorkerKeys(keys: string[] | undefined, setting: { value: { env: string; flag: string } }, workerKeys: Set<string>, what: string): Set<string> {
  const set = new Set(keys ?? []);
  const shared = [...set].filter((key) => workerKeys.has(key)).length;
  if (shared > 0)
    throw new ConfigError(
      setting.value.env,
      setting.value.flag,
      `${setting.value.env} shares ${shared} key${shared === 1 ? '' : 's'} with ${clientKeys.value.env}: ${what} must not be a worker key`,
    );
  return set;
}

/**
 * The ventilator's CURVE: its server side (workers admitted on jobs) and its link to the sink;
 * undefined when no keys are set. Throws ConfigError on half a configuration, or when its link
 * key or the server's key is also on the workers' list.
 */
export function ventilatorCurveFrom(config: ConfigOf<typeof ventilatorCurveSettings>): { server: CurveServer; link: CurveClient } | undefined {
  const server = serverFrom(config);
  const link = either(config.curveLinkSecret, config.curveLinkSecretFile, linkSecret);
  if (server === undefined) {
    if (link !== undefined) throw withoutServerSecret(linkSecret);
    return undefined;
  }
  if (link === undefined)
    throw new ConfigError(
      linkSecret.value.env,
      linkSecret.value.flag,
      `${serverSecret.value.env} is set but ${linkSecret.value.env} is not: the ventilator reaches the sink with a key pair of its own (\`jobpipe keys\` writes link.secret; the sink admits link.public in ${linkKeys.value.env})`,
    );
  notWorkerKeys([curvePublicKey(link)], linkSecret, server.workerKeys, 'the link key');
  return {
    server: { secretKey: server.secretKey, workerKeys: server.workerKeys, linkKeys: new Set(), eventsKeys: new Set() },
    link: { serverKey: curvePublicKey(server.secretKey), secretKey: link },
  };
}

/**
 * The sink's CURVE: workers admitted on results, the ventilators' link keys on results and events,
 * the events keys on events; undefined when no keys are set. Throws ConfigError on half a
 * configuration, or when a link or events key is also a worker key.
 */
export function sinkCurveFrom(config: ConfigOf<typeof sinkCurveSettings>): CurveServer | undefined {
  const server = serverFrom(config);
  const links = either(config.curveLinkKeys, config.curveLinkKeysFile, linkKeys);
  const followers = either(config.curveEventsKeys, config.curveEventsKeysFile, eventsKeys);
  if (server === undefined) {
    const stray = links !== undefined ? linkKeys : followers !== undefined ? eventsKeys : undefined;
    if (stray) throw withoutServerSecret(stray);
    return undefined;
  }
  if (links === undefined)
    throw new ConfigError(
      linkKeys.value.env,
      linkKeys.value.flag,
      `${serverSecret.value.env} is set but ${linkKeys.value.env} is not: the ventilator reaches the sink with its link key, which must be listed there (\`jobpipe keys\` writes link.public)`,
    );
  const serverPublic = curvePublicKey(server.secretKey);
  for (const [keys, setting] of [
    [links, linkKeys],
    [followers ?? [], eventsKeys],
  ] as const) {
    if (keys.includes(serverPublic))
      throw new ConfigError(
        setting.value.env,
        setting.value.flag,
        `${setting.value.env} holds the server key pair's public key: each client needs a key pair of its own`,
      );
  }
  return {
    secretKey: server.secretKey,
    workerKeys: server.workerKeys,
    linkKeys: notWorkerKeys(links, linkKeys, server.workerKeys, 'a link key'),
    eventsKeys: notWorkerKeys(followers, eventsKeys, server.workerKeys, 'an events key'),
  };
}

type ClientConfig = ConfigOf<typeof curveClientSettings>;

/** The client side of CURVE from loaded settings; undefined when no keys are set. Throws ConfigError on half a configuration. */
export function curveClientFrom(config: ClientConfig): CurveClient | undefined {
  const serverPublic = either(config.curveServerKey, config.curveServerKeyFile, serverKey);
  const secretKey = either(config.curveSecret, config.curveSecretFile, secret);
  if (serverPublic === undefined && secretKey === undefined) return undefined;
  if (serverPublic === undefined)
    throw new ConfigError(serverKey.value.env, serverKey.value.flag, `${secret.value.env} is set but ${serverKey.value.env} is not`);
  if (secretKey === undefined) throw new ConfigError(secret.value.env, secret.value.flag, `${serverKey.value.env} is set but ${secret.value.env} is not`);
  return { serverKey: serverPublic, secretKey };
}
