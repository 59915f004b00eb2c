import { JobpipeError, WireErrorName } from '@jobpipe/protocol/errors';
import type { JobError } from '@jobpipe/protocol';
import { isNonRetryable } from '@jobpipe/pipeline';

/** A handler ran past its time. Its name goes on the wire as the failed job's error name. */
export class TimeoutError extends JobpipeError {
  override name: string = WireErrorName.TimeoutError;
  constructor(readonly timeoutMs: number) {
    super(`handler ran longer than ${timeoutMs} ms`);
  }
}

/**
 * The job or its batch was cancelled (a Cancel message, `jobpipe cancel`): the reason its handler's
 * signal aborts with, and the error of its result, which the ledger does not record anyway.
 */
export class CancelledError extends JobpipeError {
  override name: string = WireErrorName.Cancelled;
  /** Retrying a cancelled job would run what was cancelled. */
  readonly retryable = false;
  constructor(readonly batch: string) {
    super(`cancelled: job of batch ${batch} was cancelled`);
  }
}

/**
 * The error of a failed result, cut to what the wire carries; `retryable: false` when the handler
 * said retrying cannot help (a NonRetryableError, or any error whose `retryable` is false; see
 * PROTOCOL.md 3.2, "Failures not to retry"). A plain object so marked is taken as an error too:
 * it is what a non-retryable error becomes on its way back from a worker thread (`forThread`).
 */
export function describeError(error: unknown): JobError {
  const nonRetryable = isNonRetryable(error);
  let described: JobError;
  if (error instanceof Error) described = { name: error.name.slice(0, 200), message: error.message.slice(0, 10_000) };
  else if (nonRetryable && typeof (error as { message?: unknown }).message === 'string') {
    const { name, message } = error as { name?: unknown; message: string };
    described = { name: (typeof name === 'string' ? name : 'Error').slice(0, 200), message: message.slice(0, 10_000) };
  } else described = { name: 'Error', message: String(error).slice(0, 10_000) };
  if (nonRetryable) described.retryable = false;
  return described;
}

/**
 * What a handler's error becomes to cross from a worker thread to the main thread. The structured
 * clone that carries it keeps an Error's message but not its class, its name (unless built in) or
 * its own properties, so a non-retryable error goes as the plain object `describeError` makes of
 * it, which clones whole; any other error goes as it is, as before.
 */
export function forThread(error: unknown): unknown {
  return isNonRetryable(error) ? describeError(error) : error;
}
