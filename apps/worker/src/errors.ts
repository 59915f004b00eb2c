import { JobpipeError, WireErrorName } from '@jobpipe/protocol/errors';

/** A handler ran past its time. Its name goes on the wire as the failed job's error name. */
export class TimeoutError extends JobpipeError {
  override name: string = WireErrorName.TimeoutError;
  constructor(readonly timeoutMs: number) {
    super(`handler ran longer than ${timeoutMs} ms`);
  }
}

/** The error of a failed result, cut to what the wire carries. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name.slice(0, 200), message: error.message.slice(0, 10_000) };
  return { name: 'Error', message: String(error).slice(0, 10_000) };
}
