import { JobpipeError } from '@jobpipe/protocol/errors';

/** An input the pipeline rejects, or a submission that cannot be taken. Nothing was written. */
export class SubmissionError extends JobpipeError {
  override name = 'SubmissionError';
}
