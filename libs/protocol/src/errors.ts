export { WireErrorName } from './wire-error-name.js';

/** Why a message could not be decoded; also the `reason` label of jobpipe_malformed_messages_total. */
export const MALFORMED_REASONS = [
  'too_short',
  'too_large',
  'unknown_version',
  'unknown_type',
  'bad_json',
  'bad_fields',
  'unexpected_type',
  'bad_envelope',
] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

/**
 * Base class of every error jobpipe raises on purpose: `error instanceof JobpipeError` tells them
 * from bugs and from errors of the libraries beneath. Each failure is a subclass with its own
 * `name` (what the CLI and logs show) and typed read-only fields. It lives here, in the one
 * package that depends on nothing of jobpipe's, so that every other package can extend it;
 * `@jobpipe/protocol/errors` loads this file alone (not the codec), for packages that need only
 * the errors.
 */
export class JobpipeError extends Error {
  override name = 'JobpipeError';
}

/** A message that this version of the protocol cannot accept. Returned by `decode`, never thrown. */
export class ProtocolError extends JobpipeError {
  override name = 'ProtocolError';
  constructor(
    readonly reason: MalformedReason,
    message: string,
  ) {
    super(message);
  }
}
