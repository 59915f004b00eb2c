/**
 * ZeroMQ plumbing that every role shares: socket options, serialized sends, packing of many items
 * per message, and a receive loop that decodes and never dies of bad input.
 */
export { baseOptions, boundedReceiveQueue } from './socket-options.js';
export type { SocketLimits } from './socket-options.js';
export { SerialSender } from './serial-sender.js';
export type { SendsFrames } from './serial-sender.js';
export { PackingQueue } from './packing-queue.js';
export { receiveLoop } from './receive-loop.js';
export type { ReceiveLoopOptions, ReceivesFrames } from './receive-loop.js';
export { Signal } from './signal.js';
export {
  admittedOn,
  curveClientOptions,
  curvePublicKey,
  curveServerOptions,
  exposedInTheClear,
  isCurveKey,
  isLoopbackEndpoint,
  prepareServerBinds,
  refusalReporter,
  SocketSecurity,
  ZapHandler,
  zapDomainOf,
} from './curve.js';
export type { CurveClient, CurveServer, CurveSocket, RefusalReason, ServerBind, ZapDecision } from './curve.js';
export { z85Decode, z85Encode } from './z85.js';
export { curveClientFrom, curveClientSettings, sinkCurveFrom, sinkCurveSettings, ventilatorCurveFrom, ventilatorCurveSettings } from './curve-settings.js';
export { endpointError } from './endpoint-errors.js';
export type { EndpointSetting } from './endpoint-errors.js';
export { ABANDONED_AFTER_MS, reconnectWhenAbandoned, REFUSED_RETRY_FIRST_MS, REFUSED_RETRY_MAX_MS, retryRefusedHandshakes } from './handshake-retry.js';
