/** Socket options every jobpipe socket shares, derived from the configured message limit. */
export interface SocketLimits {
  /** Largest message the codec accepts; the socket itself cuts a peer off at twice this. */
  maxMessageBytes: number;
}

/**
 * Options for zeromq.js socket constructors (set at construction: setting them after bind or
 * connect has no effect on existing connections).
 * - `maxMessageSize` (ZMQ_MAXMSGSIZE, default unlimited): twice the codec limit, so a message a
 *   little too large reaches the codec and is counted as too_large, while a flood of huge ones
 *   gets the peer disconnected before it can fill memory.
 * - `heartbeatInterval`/`heartbeatTimeout` (ZMQ_HEARTBEAT_IVL/TIMEOUT, default off): ZMTP pings, so a
 *   peer whose host vanished is dropped in seconds rather than after the kernel's TCP timeout.
 * - `linger` (ZMQ_LINGER, default -1 = forever): 2 s to flush on close, never a hang.
 * - `reconnectInterval`/`reconnectMaxInterval` (ZMQ_RECONNECT_IVL/_MAX, default 100 ms/none): the
 *   backoff stops at 500 ms. At 2 s, workers started before the ventilator joined so late that a
 *   batch of a few seconds ran on one worker only.
 */
export function baseOptions(limits: SocketLimits) {
  return {
    maxMessageSize: limits.maxMessageBytes * 2,
    heartbeatInterval: 1000,
    heartbeatTimeout: 3000,
    heartbeatTimeToLive: 3000,
    linger: 2000,
    reconnectInterval: 100,
    reconnectMaxInterval: 500,
  };
}

/** What a socket open to any peer may queue from one peer, in bytes, before it stops reading it. */
const RECEIVE_QUEUE_BYTES = 8 * 1024 * 1024;
/** The fewest messages it queues all the same: real peers' messages are far below the limit. */
const MIN_RECEIVE_QUEUE = 16;

/**
 * The receive queue of a socket that any peer can send to (the sink's results, the ventilator's
 * workers): ZMQ_RCVHWM counts messages, and its default of 1,000 let each rogue peer park 1,000
 * messages of up to twice the limit in the process (a flood of 95 kB messages from three peers
 * grew the sink by 175 MB). Not for a SUB socket: a PUB drops what a full queue cannot take.
 */
export function boundedReceiveQueue(limits: SocketLimits) {
  return { receiveHighWaterMark: Math.max(MIN_RECEIVE_QUEUE, Math.floor(RECEIVE_QUEUE_BYTES / (limits.maxMessageBytes * 2))) };
}
