/** Anything with zeromq.js's `send`: one call may be pending at a time. */
export interface SendsFrames {
  send(frames: Buffer | Buffer[]): Promise<void>;
}

/**
 * Runs a socket's sends one after another. zeromq.js allows a single pending send per socket (a
 * second fails with "Socket is busy writing"), and the send promise is the backpressure: it
 * resolves only when the message is queued in libzmq, below the high-water mark.
 */
export class SerialSender {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(readonly socket: SendsFrames) {}

  /** Queues a send; the promise settles with that send. */
  send(frames: Buffer | Buffer[]): Promise<void> {
    this.#pending++;
    const sent = this.#tail.then(() => this.socket.send(frames));
    this.#tail = sent.then(
      () => void this.#pending--,
      () => void this.#pending--,
    );
    return sent;
  }

  /** Sends queued and not yet handed to libzmq. */
  get pending(): number {
    return this.#pending;
  }

  /** Resolves when every send queued so far has settled. */
  idle(): Promise<void> {
    return this.#tail;
  }
}
