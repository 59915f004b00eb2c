import type { Socket } from 'zeromq';
import { MECHANISM_MISMATCH } from './curve.js';

/** Backoff after a refused handshake: 1 s, doubling on each further refusal, at most 30 s. */
export const REFUSED_RETRY_FIRST_MS = 1000;
export const REFUSED_RETRY_MAX_MS = 30_000;
/** While refusals go on, the line is repeated at most this often. */
const REPEAT_LOG_MS = 60_000;

interface HandshakeLog {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/**
 * Keeps a connecting socket trying after a server refuses its handshake (PROTOCOL.md, "CURVE:
 * keys, refusals and retries"). libzmq never reconnects after a refusal: a client whose key is not
 * on the allow-list yet, or one refused during a key rotation, would otherwise stay connected to
 * nothing, silently. Here a refusal is one error line naming the endpoint and the public key, and
 * a fresh connection after a backoff, so that the key's admission lets the client in without a
 * restart. A handshake that fails for another reason (a wrong server key) libzmq retries itself;
 * it gets a warning, at most once a minute.
 */
export function retryRefusedHandshakes(
  socket: Socket,
  options: {
    endpoint: string;
    /** This client's public key (Z85), or undefined when it runs in the clear. */
    publicKey: string | undefined;
    logger: HandshakeLog;
    /** What the socket is for, in the lines: 'jobs', 'results', 'events'. */
    socketName: string;
    /** Who is refused, in the line: 'worker' (PROTOCOL.md's wording), 'ventilator', 'console'. */
    who: string;
  },
): void {
  const { endpoint, publicKey, logger, socketName, who } = options;
  let refusals = 0;
  let loggedAt = -Infinity;
  let failedLoggedAt = -Infinity;
  let retry: NodeJS.Timeout | undefined;
  const fields = { socket: socketName, endpoint, publicKey: publicKey ?? '(none)' };
  const refused = (reason: 'unknown_key' | 'wrong_mechanism', detail: string) => {
    if (socket.closed) return;
    refusals++;
    const delayMs = Math.min(REFUSED_RETRY_MAX_MS, REFUSED_RETRY_FIRST_MS * 2 ** Math.min(refusals - 1, 10));
    if (Date.now() - loggedAt >= REPEAT_LOG_MS) {
      loggedAt = Date.now();
      logger.error({ ...fields, reason, detail, refusals, delayMs }, `the server refused this ${who}'s handshake; retrying`);
    }
    clearTimeout(retry);
    retry = setTimeout(() => connectAgain(socket, endpoint), delayMs);
    retry.unref();
  };
  const events = socket.events;
  events.on('handshake:error:auth', (event) => refused('unknown_key', `status ${event.error.status}: its public key is not on the allow-list of that socket`));
  events.on('handshake:error:protocol', (event) => {
    if (event.error.code === MECHANISM_MISMATCH)
      return refused('wrong_mechanism', publicKey ? 'the server runs without CURVE' : 'the server uses CURVE and this process has no keys');
    warnFailed(event.error.code);
  });
  events.on('handshake:error:other', (event) => warnFailed(event.error.code));
  events.on('handshake', () => {
    if (refusals > 0) logger.info({ ...fields, refusals }, `admitted by the server after ${refusals} refused handshake${refusals === 1 ? '' : 's'}`);
    refusals = 0;
    loggedAt = -Infinity;
  });
  events.on('end', () => clearTimeout(retry));

  function warnFailed(code: string | undefined): void {
    if (Date.now() - failedLoggedAt < REPEAT_LOG_MS) return;
    failedLoggedAt = Date.now();
    logger.warn(
      { ...fields, error: code },
      publicKey ? "handshake with the server failed; is JOBPIPE_CURVE_SERVER_KEY the servers' public key?" : 'handshake with the server failed',
    );
  }
}

/** How long a connecting socket may sit disconnected with no attempt of libzmq's before it connects again itself. */
export const ABANDONED_AFTER_MS = 3000;

/**
 * Connects a socket again when libzmq has given its connection up: after a protocol error on an
 * established connection (a message above the socket's `maxMessageSize`, say) libzmq ends the
 * session of a connecting socket for good, with no retry (PROTOCOL.md, "Recommended socket
 * options"). A disconnect after which libzmq neither connects nor schedules a retry within
 * `quietMs` is one of those: logged as an error naming `cause`, at most once a minute, and
 * connected again. A peer that went away (a restart) gets libzmq's own retries, and nothing here.
 */
export function reconnectWhenAbandoned(
  socket: Socket,
  options: { endpoint: string; logger: HandshakeLog; socketName: string; cause: string; quietMs?: number },
): void {
  const { endpoint, logger, socketName, cause, quietMs = ABANDONED_AFTER_MS } = options;
  let timer: NodeJS.Timeout | undefined;
  let loggedAt = -Infinity;
  // Only a connection whose handshake succeeded: a refused one is retryRefusedHandshakes's, with its backoff.
  let established = false;
  const events = socket.events;
  const libzmqActs = () => clearTimeout(timer);
  events.on('handshake', () => {
    established = true;
    libzmqActs();
  });
  events.on('disconnect', () => {
    clearTimeout(timer);
    if (!established) return;
    established = false;
    timer = setTimeout(() => {
      if (socket.closed) return;
      if (Date.now() - loggedAt >= REPEAT_LOG_MS) {
        loggedAt = Date.now();
        logger.error({ socket: socketName, endpoint }, `the connection was cut and libzmq does not connect again (${cause}); connecting again`);
      }
      connectAgain(socket, endpoint);
    }, quietMs);
    timer.unref();
  });
  for (const name of ['connect', 'connect:delay', 'connect:retry'] as const) events.on(name, libzmqActs);
  events.on('end', libzmqActs);
}

/** A fresh connection, and so a fresh handshake, to `endpoint`. */
function connectAgain(socket: Socket, endpoint: string): void {
  if (socket.closed) return;
  try {
    socket.disconnect(endpoint);
  } catch {
    // Not connected any more: connecting again is all it takes.
  }
  socket.connect(endpoint);
}
