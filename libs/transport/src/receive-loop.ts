import { decode, ProtocolError, type Message, type MessageTypeName } from '@jobpipe/protocol';

/** The receiving side of a zeromq.js socket: an async iterable of multipart messages. */
export type ReceivesFrames = AsyncIterable<Buffer[]>;

export interface ReceiveLoopOptions<T extends MessageTypeName> {
  /** Message types this receiver takes; others are dropped as unexpected_type. */
  accept: readonly T[];
  maxMessageBytes: number;
  /** Frames before the message itself (a ROUTER's routing id: 1). @default 0 */
  envelopeFrames?: number;
  onMessage: (message: Extract<Message, { type: T }>, envelope: Buffer[]) => void | Promise<void>;
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
    for await (const frames of socket) {
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
      await options.onMessage(decoded.message as Extract<Message, { type: T }>, envelope);
    }
  } catch (error) {
    // zeromq.js ends the iteration with an error when the socket is closed under it.
    if (!isClosedError(error)) throw error;
  }
}

function isClosedError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'EBADF' || code === 'ETERM' || code === 'ENOTSOCK';
}
