/** A handler ran past its time. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`handler ran longer than ${timeoutMs} ms`);
  }
}

/** The error of a failed result, cut to what the wire carries. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name.slice(0, 200), message: error.message.slice(0, 10_000) };
  return { name: 'Error', message: String(error).slice(0, 10_000) };
}
