import { createPrivateKey, createPublicKey } from 'node:crypto';
import { Router } from 'zeromq';
import { nextFrames } from './receive-loop.js';
import { z85Decode, z85Encode } from './z85.js';

/**
 * CURVE (ZeroMQ RFC 26) keys of a process. The ventilator and the sink share one server key pair;
 * every other peer (workers, and the ventilator when it connects to the sink) has a client key
 * pair whose public key must be on the servers' allow-list.
 */
export interface CurveServer {
  /** The server key pair's secret, Z85. */
  secretKey: string;
  /** Client public keys (Z85) allowed to connect. The server's own public key is always allowed. */
  allowedClients: ReadonlySet<string>;
}

export interface CurveClient {
  /** The server's public key, Z85. */
  serverKey: string;
  /** This client's secret key, Z85; its public key is derived from it. */
  secretKey: string;
}

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
// PKCS#8 wrapping of a raw X25519 private key (RFC 8410), so node:crypto can derive its public key.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** True when `text` is a 40-character Z85 CURVE key. */
export function isCurveKey(text: string): boolean {
  if (!Z85_KEY.test(text)) return false;
  try {
    z85Decode(text); // five characters may still overflow 32 bits
    return true;
  } catch {
    return false;
  }
}

/** The public key (Z85) of a CURVE secret key (Z85): both are Curve25519, so X25519 derives it. */
export function curvePublicKey(secretKey: string): string {
  const secret = z85Decode(secretKey);
  if (secret.length !== 32) throw new RangeError('a CURVE secret key is 40 Z85 characters');
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return z85Encode(Buffer.from(jwk.x!, 'base64url'));
}

/** Socket options of a CURVE server socket (bind side). */
export function curveServerOptions(server: CurveServer) {
  return { curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: curvePublicKey(server.secretKey), zapDomain: 'jobpipe' };
}

/** Socket options of a CURVE client socket (connect side). */
export function curveClientOptions(client: CurveClient) {
  return { curveServerKey: client.serverKey, curveSecretKey: client.secretKey, curvePublicKey: curvePublicKey(client.secretKey) };
}

/** True for endpoints only this host can reach: ipc, inproc, and tcp on a loopback address. */
export function isLoopbackEndpoint(endpoint: string): boolean {
  const tcp = /^tcp:\/\/(.+):[^:]+$/.exec(endpoint);
  if (!tcp) return /^(ipc|inproc):\/\//.test(endpoint);
  const host = tcp[1]!.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface ZapDecision {
  /** The peer's public key, Z85. */
  publicKey: string;
  /** Its IP address, as libzmq gives it. */
  address: string;
  allowed: boolean;
}

/**
 * The ZAP handler (ZeroMQ RFC 27) of this process: libzmq asks it, over `inproc://zeromq.zap.01`,
 * whether each CURVE client that completed the handshake may connect, and drops those it refuses.
 * It must be started before a CURVE server socket accepts connections: libzmq lets every client
 * in when no handler is bound. One per process (the address is fixed); servers add their keys.
 */
export class ZapHandler {
  static #instance: ZapHandler | undefined;
  readonly #socket = new Router({ linger: 0 });
  readonly #allowed = new Set<string>();
  readonly #listeners = new Set<(decision: ZapDecision) => void>();
  #closed = false;

  private constructor() {}

  /** The process's handler, started on first use, with `allowed` added to its allow-list. */
  static async install(allowed: Iterable<string>, onDecision?: (decision: ZapDecision) => void): Promise<ZapHandler> {
    let handler = ZapHandler.#instance;
    if (!handler) {
      handler = new ZapHandler();
      await handler.#socket.bind('inproc://zeromq.zap.01');
      ZapHandler.#instance = handler;
      void handler.#serve();
    }
    for (const key of allowed) handler.#allowed.add(key);
    if (onDecision) handler.#listeners.add(onDecision);
    return handler;
  }

  async #serve(): Promise<void> {
    try {
      for (;;) {
        const frames = await nextFrames(this.#socket);
        if (!frames) return;
        // [routing id, empty, version, request id, domain, address, identity, mechanism, key...]
        const [routingId, , version, requestId, , address, , mechanism, credential] = frames;
        const publicKey = mechanism?.toString() === 'CURVE' && credential?.length === 32 ? z85Encode(credential) : '';
        const allowed = version?.toString() === '1.0' && publicKey !== '' && this.#allowed.has(publicKey);
        await this.#socket.send([
          routingId!,
          '',
          '1.0',
          requestId ?? '',
          allowed ? '200' : '400',
          allowed ? 'OK' : 'key not allowed',
          allowed ? publicKey : '',
          '',
        ]);
        for (const listener of this.#listeners) listener({ publicKey, address: address?.toString() ?? '', allowed });
      }
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  /** Stops answering; libzmq then lets every client in, so close only with the servers. */
  close(): void {
    this.#closed = true;
    this.#socket.close();
    if (ZapHandler.#instance === this) ZapHandler.#instance = undefined;
  }
}

/**
 * What a role's sockets need for CURVE, or nothing when it runs in the clear. A server role (the
 * ventilator, the sink) binds as CURVE server and, where it connects (the ventilator to the
 * sink), uses the server key pair as its client key, which the sink always allows.
 */
export class SocketSecurity {
  private constructor(
    readonly server: CurveServer | undefined,
    readonly client: CurveClient | undefined,
  ) {}

  static plain(): SocketSecurity {
    return new SocketSecurity(undefined, undefined);
  }

  static forServer(server: CurveServer | undefined): SocketSecurity {
    if (!server) return SocketSecurity.plain();
    return new SocketSecurity(server, { serverKey: curvePublicKey(server.secretKey), secretKey: server.secretKey });
  }

  static forClient(client: CurveClient | undefined): SocketSecurity {
    return new SocketSecurity(undefined, client);
  }

  get enabled(): boolean {
    return this.server !== undefined || this.client !== undefined;
  }

  /** Options for a socket that binds. */
  bindOptions(): Partial<ReturnType<typeof curveServerOptions>> {
    return this.server ? curveServerOptions(this.server) : {};
  }

  /** Options for a socket that connects. */
  connectOptions(): Partial<ReturnType<typeof curveClientOptions>> {
    return this.client ? curveClientOptions(this.client) : {};
  }

  /** Starts the ZAP handler with this server's allow-list (its own key included); call before binding. */
  async authenticate(onDecision: (decision: ZapDecision) => void): Promise<void> {
    if (!this.server) return;
    await ZapHandler.install([...this.server.allowedClients, curvePublicKey(this.server.secretKey)], onDecision);
  }
}

/** The bind endpoints that others can reach, when they would carry traffic in the clear. */
export function exposedInTheClear(security: SocketSecurity, endpoints: string[]): string[] {
  return security.enabled ? [] : endpoints.filter((endpoint) => !isLoopbackEndpoint(endpoint));
}

/**
 * What a server role does before it binds: starts its ZAP handler, whose refusals are counted and
 * logged, and warns of each endpoint that others could reach in the clear. `exposes` says what a
 * stranger could do there.
 */
export async function prepareServerBinds(
  security: SocketSecurity,
  options: {
    role: string;
    endpoints: string[];
    exposes: string;
    logger: { warn(fields: object, message: string): void };
    refused: { inc(labels: { role: string }): void };
  },
): Promise<void> {
  const { role, endpoints, exposes, logger, refused } = options;
  await security.authenticate(reportHandshakes(role, logger, refused));
  for (const endpoint of exposedInTheClear(security, endpoints)) {
    logger.warn({ endpoint }, `binding beyond loopback without CURVE keys: anyone who reaches this port can ${exposes} (see SECURITY.md)`);
  }
}

/**
 * A ZAP listener that counts refused clients and logs each refused key once (up to 1,000 keys,
 * so a flood of fresh keys cannot grow memory or the log without bound).
 */
export function reportHandshakes(
  role: string,
  logger: { warn(fields: object, message: string): void },
  refused: { inc(labels: { role: string }): void },
): (decision: ZapDecision) => void {
  const logged = new Set<string>();
  return (decision) => {
    if (decision.allowed) return;
    refused.inc({ role });
    if (logged.size >= 1000 || logged.has(decision.publicKey)) return;
    logged.add(decision.publicKey);
    logger.warn({ publicKey: decision.publicKey || '(none)', address: decision.address }, 'refused a CURVE client whose key is not allowed');
  };
}
