import { JobpipeError } from '@jobpipe/protocol/errors';

/** A command's argument or setting that names nothing there is (an unknown batch, a bad sequence number, a demo outside a checkout): one line, exit code 2. */
export class UsageError extends JobpipeError {
  override name = 'UsageError';
}
