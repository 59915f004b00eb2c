import { decode, ProtocolError, type Message, type MessageTypeName } from '@jobpipe/protocol';

/** The receiving side of a zeromq.js socket. */
export interface ReceivesFrames {
  receive(): Promise<Buffer[]>;
  readonly closed: boolean;
}

export interface ReceiveLoopOptions<T extends MessageTypeName> {
  /** Message types this receiver takes; others are dropped as unexpected_type. */
  accept: readonly T[];
  maxMessageBytes: number;
  /** Frames before the message itself (a ROUTER's routing id: 1). @default 0 */
  envelopeFrames?: number;
  /** `bytes`: the message's size on the wire, for callers that bound what they hold in bytes. */
  onMessage: (message: Extract<Message, { type: T }>, envelope: Buffer[], bytes: number) => void | Promise<void>;
  onMalformed: (error: ProtocolError, envelope: Buffer[], bytes: number) => void;
}

/**
 * Reads a socket until it closes, decoding every message. Whatever cannot be decoded goes to
 * `onMalformed` and the loop goes on: bad input never ends a receive loop.
 */
export async function receiveLoop<T extends MessageTypeName>(socket: ReceivesFrames, options: ReceiveLoopOptions<T>): Promise<void> {
  const envelopeFrames = options.envelopeFrames ?? 0;
  const decodeOptions = { accept: options.accept, maxBytes: options.maxMessageBytes };
  try {
    for (;;) {
      const frames = await nextFrames(socket);
      if (!frames) return;
      const envelope = frames.slice(0, envelopeFrames);
      const body = frames[envelopeFrames];
      if (frames.length !== envelopeFrames + 1 || body === undefined) {
        const size = frames.reduce((sum, frame) => sum + frame.length, 0);
        options.onMalformed(new ProtocolError('bad_envelope', `expected ${envelopeFrames + 1} frame(s), got ${frames.length}`), envelope, size);
        continue;
      }
      const decoded = decode(body, decodeOptions);
      if (!decoded.ok) {
        options.onMalformed(decoded.error, envelope, body.length);
        continue;
      }
      await options.onMessage(decoded.message as Extract<Message, { type: T }>, envelope, body.length);
    }
  } catch (error) {
    // zeromq.js rejects a pending receive when the socket is closed under it.
    if (!isClosedError(error) && !socket.closed) throw error;
  }
}

/**
 * The next message of a socket, or undefined once it is closed. zeromq.js rejects `receive()` with
 * EAGAIN when libzmq said a message was ready and then had none (seen with CURVE while a peer's
 * connection is set up): nothing was lost, so it reads again rather than end the caller's loop.
 */
export async function nextFrames(socket: ReceivesFrames): Promise<Buffer[] | undefined> {
  while (!socket.closed) {
    try {
      return await socket.receive();
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN' || socket.closed) throw error;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return undefined;
}

function isClosedError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'EBADF' || code === 'ETERM' || code === 'ENOTSOCK';
}
