import { JobpipeError } from '@jobpipe/protocol/errors';

/** A SinkOptions field an embedder set to a value the sink cannot run with; names the field. */
export class SinkOptionError extends JobpipeError {
  override name = 'SinkOptionError';
  constructor(
    /** The field of SinkOptions, e.g. `maxOpenBatches`. */
    readonly option: string,
    message: string,
  ) {
    super(`SinkOptions.${option}: ${message}`);
  }
}
