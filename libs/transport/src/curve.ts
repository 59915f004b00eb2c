import { createPrivateKey, createPublicKey } from 'node:crypto';
import { Router, type Socket } from 'zeromq';
import { nextFrames } from './receive-loop.js';
import { z85Decode, z85Encode } from './z85.js';
import { LogLimiter } from '@jobpipe/observability';

/**
 * CURVE (ZeroMQ RFC 26) keys of a process. The ventilator and the sink share one server key pair.
 * Every peer that connects has a key pair of its own, and each bound socket admits only the keys
 * of the roles that belong there (SECURITY.md, "Who can do what with which key"):
 *
 * | socket | bound by | admits |
 * |---|---|---|
 * | jobs | ventilator | worker keys |
 * | results | sink | worker keys, link keys |
 * | events | sink | link keys, events keys |
 *
 * A link key is the ventilator's own key for its link to the sink, so that no key a worker holds
 * lets it reach the sink's events, and no key but a worker's gets jobs. The server's own public
 * key is on no list.
 */
export interface CurveServer {
  /** The server key pair's secret, Z85. */
  secretKey: string;
  /** Workers' public keys (Z85): admitted on jobs and results. */
  workerKeys: ReadonlySet<string>;
  /** The ventilators' link public keys: admitted on results and events (the sink's; empty on the ventilator). */
  linkKeys: ReadonlySet<string>;
  /** Events-only public keys (the console, BatchEvents): admitted on events (the sink's). */
  eventsKeys: ReadonlySet<string>;
}

export interface CurveClient {
  /** The server's public key, Z85. */
  serverKey: string;
  /** This client's secret key, Z85; its public key is derived from it. */
  secretKey: string;
}

/** libzmq's code for a handshake between a CURVE peer and one without keys: a refusal, not a fault. */
export const MECHANISM_MISMATCH = 'ERR_ZMTP_MECHANISM_MISMATCH';

/** The sockets a server role binds, each with its own allow-list (its ZAP domain). */
export type CurveSocket = 'jobs' | 'results' | 'events';

/** The public keys a socket admits. */
export function admittedOn(server: CurveServer, socket: CurveSocket): Set<string> {
  const keys =
    socket === 'jobs' ? [...server.workerKeys] : socket === 'results' ? [...server.workerKeys, ...server.linkKeys] : [...server.linkKeys, ...server.eventsKeys];
  const admitted = new Set(keys);
  // Whatever the lists say, the server's own key is no client, and jobs go to worker keys only.
  admitted.delete(curvePublicKey(server.secretKey));
  if (socket === 'jobs') for (const key of [...server.linkKeys, ...server.eventsKeys]) admitted.delete(key);
  return admitted;
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

/** The ZAP domain of a bound socket: how the ZAP handler tells which allow-list applies. */
export function zapDomainOf(socket: CurveSocket): string {
  return `jobpipe-${socket}`;
}

/** Socket options of a CURVE server socket (bind side). */
export function curveServerOptions(server: CurveServer, socket: CurveSocket) {
  return { curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: curvePublicKey(server.secretKey), zapDomain: zapDomainOf(socket) };
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
  /** The peer's public key, Z85 ('' when it presented none). */
  publicKey: string;
  /** Its IP address, as libzmq gives it. */
  address: string;
  /** The socket it asked to join. */
  socket: CurveSocket | undefined;
  allowed: boolean;
}

/**
 * The ZAP handler (ZeroMQ RFC 27) of this process: libzmq asks it, over `inproc://zeromq.zap.01`,
 * whether each CURVE client that completed the handshake may connect, and drops those it refuses.
 * It must be started before a CURVE server socket accepts connections: libzmq lets every client
 * in when no handler is bound. One per process (the address is fixed); each socket's allow-list
 * is its ZAP domain's (a key admitted on one socket is refused on the others).
 */
export class ZapHandler {
  static #instance: ZapHandler | undefined;
  readonly #socket = new Router({ linger: 0 });
  readonly #allowed = new Map<string, Set<string>>();
  readonly #listeners = new Set<(decision: ZapDecision) => void>();
  #closed = false;

  private constructor() {}

  /** The process's handler, started on first use, with `allowed` added to the allow-list of `socket`. */
  static async install(socket: CurveSocket, allowed: Iterable<string>, onDecision?: (decision: ZapDecision) => void): Promise<ZapHandler> {
    let handler = ZapHandler.#instance;
    if (!handler) {
      handler = new ZapHandler();
      await handler.#socket.bind('inproc://zeromq.zap.01');
      ZapHandler.#instance = handler;
      void handler.#serve();
    }
    const domain = zapDomainOf(socket);
    const list = handler.#allowed.get(domain) ?? new Set<string>();
    for (const key of allowed) list.add(key);
    handler.#allowed.set(domain, list);
    if (onDecision) handler.#listeners.add(onDecision);
    return handler;
  }

  async #serve(): Promise<void> {
    try {
      for (;;) {
        const frames = await nextFrames(this.#socket);
        if (!frames) return;
        // [routing id, empty, version, request id, domain, address, identity, mechanism, key...]
        const [routingId, , version, requestId, domainFrame, address, , mechanism, credential] = frames;
        const publicKey = mechanism?.toString() === 'CURVE' && credential?.length === 32 ? z85Encode(credential) : '';
        const domain = domainFrame?.toString() ?? '';
        const allowed = version?.toString() === '1.0' && publicKey !== '' && (this.#allowed.get(domain)?.has(publicKey) ?? false);
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
        const socket = SOCKETS.find((name) => zapDomainOf(name) === domain);
        for (const listener of this.#listeners) listener({ publicKey, address: address?.toString() ?? '', socket, allowed });
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

const SOCKETS: readonly CurveSocket[] = ['jobs', 'results', 'events'];

/**
 * What a role's sockets need for CURVE, or nothing when it runs in the clear. A server role (the
 * ventilator, the sink) binds as CURVE server, each socket with its allow-list; where it connects
 * (the ventilator to the sink) it presents its link key.
 */
export class SocketSecurity {
  private constructor(
    readonly server: CurveServer | undefined,
    readonly client: CurveClient | undefined,
  ) {}

  static plain(): SocketSecurity {
    return new SocketSecurity(undefined, undefined);
  }

  /** The ventilator's: a server to workers, a client (its link key) to the sink. */
  static forVentilator(curve: { server: CurveServer; link: CurveClient } | undefined): SocketSecurity {
    return curve ? new SocketSecurity(curve.server, curve.link) : SocketSecurity.plain();
  }

  /** The sink's: a server to everyone. */
  static forSink(server: CurveServer | undefined): SocketSecurity {
    return new SocketSecurity(server, undefined);
  }

  /** A role that only connects (worker, console, a client following events). */
  static forClient(client: CurveClient | undefined): SocketSecurity {
    return new SocketSecurity(undefined, client);
  }

  get enabled(): boolean {
    return this.server !== undefined || this.client !== undefined;
  }

  /** This process's public key where it connects, if it has keys. */
  get clientPublicKey(): string | undefined {
    return this.client ? curvePublicKey(this.client.secretKey) : undefined;
  }

  /** Options for a socket that binds as `socket`. */
  bindOptions(socket: CurveSocket): Partial<ReturnType<typeof curveServerOptions>> {
    return this.server ? curveServerOptions(this.server, socket) : {};
  }

  /** Options for a socket that connects. */
  connectOptions(): Partial<ReturnType<typeof curveClientOptions>> {
    return this.client ? curveClientOptions(this.client) : {};
  }

  /** Starts the ZAP handler with the allow-lists of these sockets; call before binding. */
  async authenticate(sockets: readonly CurveSocket[], onDecision: (decision: ZapDecision) => void): Promise<void> {
    if (!this.server) return;
    for (const socket of sockets) await ZapHandler.install(socket, admittedOn(this.server, socket), onDecision);
  }
}

/** The bind endpoints that others can reach, when they would carry traffic in the clear. */
export function exposedInTheClear(security: SocketSecurity, endpoints: string[]): string[] {
  return security.enabled ? [] : endpoints.filter((endpoint) => !isLoopbackEndpoint(endpoint));
}

/** Why a server refused a handshake: the `reason` of `jobpipe_handshakes_refused_total`. */
export type RefusalReason = 'unknown_key' | 'wrong_mechanism' | 'malformed';

interface RefusalLog {
  warn(fields: object, message: string): void;
}
interface RefusalCounter {
  inc(labels: { role: string; reason: RefusalReason }): void;
}
/** What a refusal's log line says of it. */
interface RefusalFields {
  socket: CurveSocket | undefined;
  /** The key it presented ('' for none), when the ZAP handler saw it. */
  publicKey?: string;
  address?: string;
  endpoint?: string;
  /** libzmq's error code, for a handshake that failed before the ZAP handler. */
  error?: string;
}

/** A bound socket of a server role, for `prepareServerBinds`. */
export interface ServerBind {
  socket: CurveSocket;
  endpoint: string;
  /** The zeromq socket, whose failed handshakes are counted. */
  zmq: Socket;
}

/**
 * What a server role does before it binds: starts its ZAP handler and watches each socket's
 * failed handshakes, both counted and logged, and warns of each endpoint that others could reach
 * in the clear. `exposes` says what a stranger could do there.
 */
export async function prepareServerBinds(
  security: SocketSecurity,
  options: {
    role: string;
    binds: ServerBind[];
    exposes: string;
    logger: RefusalLog;
    refused: RefusalCounter;
  },
): Promise<void> {
  const { role, binds, exposes, logger, refused } = options;
  const report = refusalReporter(role, logger, refused);
  await security.authenticate(
    binds.map((bind) => bind.socket),
    (decision) => {
      if (!decision.allowed) report('unknown_key', { socket: decision.socket, publicKey: decision.publicKey, address: decision.address });
    },
  );
  if (security.server) for (const bind of binds) watchHandshakes(bind, report);
  for (const endpoint of exposedInTheClear(
    security,
    binds.map((bind) => bind.endpoint),
  )) {
    logger.warn({ endpoint }, `binding beyond loopback without CURVE keys: anyone who reaches this port can ${exposes} (see SECURITY.md)`);
  }
}

/**
 * Handshakes that fail before the ZAP handler is asked: a peer in the clear against CURVE
 * (`wrong_mechanism`), or one whose handshake does not decrypt or parse (`malformed`: a client
 * with the wrong server key, or garbage). Refusals by key come from the ZAP handler, which knows
 * the key; libzmq reports them here too, so they are not counted twice.
 */
function watchHandshakes(bind: ServerBind, report: (reason: RefusalReason, fields: RefusalFields) => void): void {
  const events = bind.zmq.events;
  events.on('handshake:error:protocol', (event) => {
    const reason = event.error.code === MECHANISM_MISMATCH ? 'wrong_mechanism' : 'malformed';
    report(reason, { socket: bind.socket, endpoint: bind.endpoint, error: event.error.code });
  });
  events.on('handshake:error:other', (event) => report('malformed', { socket: bind.socket, endpoint: bind.endpoint, error: event.error.code }));
}

const REFUSAL_MESSAGES: Record<RefusalReason, string> = {
  unknown_key: 'refused a CURVE client whose key is not allowed on this socket',
  wrong_mechanism: 'refused a peer without CURVE (in the clear, or another mechanism)',
  malformed: 'refused a handshake that failed (a client with the wrong server key, or not a ZeroMQ peer)',
};

/**
 * Counts every refusal by reason, and logs them with a bound: each refused key once per socket
 * (up to 1,000, so a flood of fresh keys cannot grow memory or the log), and the others at most
 * 10 lines per reason in 10 s, the first after a quiet spell saying how many were left out.
 */
export function refusalReporter(role: string, logger: RefusalLog, refused: RefusalCounter): (reason: RefusalReason, fields: RefusalFields) => void {
  const loggedKeys = new Set<string>();
  const limiter = new LogLimiter();
  return (reason, fields) => {
    refused.inc({ role, reason });
    const { publicKey } = fields;
    if (reason === 'unknown_key' && publicKey) {
      const seen = `${fields.socket}:${publicKey}`;
      if (loggedKeys.size >= 1000 || loggedKeys.has(seen)) return;
      loggedKeys.add(seen);
      logger.warn({ reason, ...fields }, REFUSAL_MESSAGES[reason]);
      return;
    }
    const allowed = limiter.allow(reason);
    if (!allowed) return;
    logger.warn(
      { reason, ...fields, ...(publicKey === '' ? { publicKey: '(none)' } : {}), ...(allowed.suppressed > 0 ? { leftOut: allowed.suppressed } : {}) },
      REFUSAL_MESSAGES[reason],
    );
  };
}
