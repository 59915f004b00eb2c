import { JobpipeError } from '@jobpipe/protocol/errors';

/**
 * Thrown by a handler when retrying cannot help: the API it calls answered 404, the payload is
 * bad data. The job fails at once and, with persistence on, becomes a dead letter with this error
 * as its last error, whatever `retries` the pipeline allows (it runs again only through `jobpipe
 * dead retry`). The worker sends it with `retryable: false` in the failed result's error
 * (PROTOCOL.md 3.2, "Failures not to retry").
 *
 * Any error may carry the same mark instead: one whose `retryable` property is `false` (an
 * error class of your own, or one from a library, marked before it is rethrown) is not retried
 * either. The error keeps its own name on the wire.
 *
 * A JobpipeError, as every error class jobpipe defines, though a handler raises it; `new
 * NonRetryableError(message, { cause })` keeps the error it stands for.
 *
 * ```ts
 * work: async (id: string) => {
 *   const response = await fetch(`https://api.example.com/items/${id}`);
 *   if (response.status === 404) throw new NonRetryableError(`item ${id} does not exist`);
 *   if (!response.ok) throw new Error(`HTTP ${response.status}`); // retried as the pipeline allows
 *   return response.json();
 * },
 * ```
 */
export class NonRetryableError extends JobpipeError {
  override name = 'NonRetryableError';
  /** What the worker reads: `false` for every NonRetryableError. */
  readonly retryable = false as const;
}

/**
 * True when `error` says retrying it cannot help: its `retryable` property is `false` (a
 * NonRetryableError, or any error or object so marked). Duck-typed, so it holds for errors made
 * by another copy of this package, or in a worker thread.
 */
export function isNonRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false;
}
