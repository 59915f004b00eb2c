import { ConfigError, eitherOf as either, valueOrFile, type Setting } from '@jobpipe/config';
import { isCurveKey, type CurveClient, type CurveServer } from './curve.js';

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
  'ventilator and sink: public keys of the clients allowed to connect (Z85, separated by commas or lines; text after a key and a space is a note)',
  curveKeyList,
);
const serverKey = valueOrFile(
  'JOBPIPE_CURVE_SERVER_KEY',
  'curve-server-key',
  'worker: public key of the server key pair (Z85); turns CURVE on for its sockets',
  curveKey,
);
const secret = valueOrFile(
  'JOBPIPE_CURVE_SECRET',
  'curve-secret',
  "worker: this client's secret key (Z85); its public key must be in the servers' JOBPIPE_CURVE_CLIENT_KEYS. Prefer the _FILE form to a flag (visible in ps)",
  curveKey,
);

/** Settings of a role that binds sockets (ventilator, sink). */
export const curveServerSettings = {
  curveServerSecret: serverSecret.value,
  curveServerSecretFile: serverSecret.file,
  curveClientKeys: clientKeys.value,
  curveClientKeysFile: clientKeys.file,
};

/** Settings of a role that only connects (worker). */
export const curveClientSettings = {
  curveServerKey: serverKey.value,
  curveServerKeyFile: serverKey.file,
  curveSecret: secret.value,
  curveSecretFile: secret.file,
};

type ServerConfig = { [K in keyof typeof curveServerSettings]: (typeof curveServerSettings)[K] extends Setting<infer T> ? T : never };
type ClientConfig = { [K in keyof typeof curveClientSettings]: (typeof curveClientSettings)[K] extends Setting<infer T> ? T : never };

/** The server side of CURVE from loaded settings; undefined when no keys are set. Throws ConfigError on half a configuration. */
export function curveServerFrom(config: ServerConfig): CurveServer | undefined {
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
  return { secretKey, allowedClients: new Set(allowed) };
}

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
