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

/** Base class of every error jobpipe raises on purpose. */
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
