/**
 * The error names jobpipe itself gives a failed job, in `results[].error.name` of a Results
 * message or as a job's last error in the ledger (PROTOCOL.md 3.2, "Error names jobpipe writes").
 * A handler's own errors keep their own names (`TypeError`, ...); these are the ones a receiver,
 * a dashboard or a Lua command can match. Part of the wire format: renaming one is a breaking
 * change. The ledger's Lua commands hold some as literals, which a test keeps equal to these.
 */
export const WireErrorName = {
  /** The job's worker went away (silent or unreachable) before its result came: the job is lost, sent again alone. Ledger. */
  WorkerLost: 'WorkerLost',
  /** The job's lease ran out without a result: the job is lost, sent again alone. Ledger (take-due-6.lua). */
  LeaseExpired: 'LeaseExpired',
  /** The job ran out of attempts with persistence off: the ventilator reports it to the sink as failed. Results. */
  DeadLetter: 'DeadLetter',
  /** The job's result alone did not fit in a message: the worker sends it as failed. Results. */
  ResultTooLarge: 'ResultTooLarge',
  /** The job came in a Jobs message for a pipeline the worker does not run: the worker fails it. Results. */
  WrongPipeline: 'WrongPipeline',
  /**
   * The job or its batch was cancelled (`jobpipe cancel`): a worker that heard of it (a Cancel
   * message) fails the jobs it holds with this; the ledger records none of them. Results, and a
   * cancelled job's outcome.
   */
  Cancelled: 'Cancelled',
  /** The handler ran longer than the job timeout. Results, and the worker's fatal log line when a handler blocks its event loop. */
  TimeoutError: 'TimeoutError',
  /**
   * The job's result came with a value (or error) nested too deep to be stored: the sink records
   * it as this failure, not retried. Ledger (persistence on).
   */
  ResultUnstorable: 'ResultUnstorable',
  /**
   * The job alone would not fit in a message under the ventilator's JOBPIPE_MAX_MESSAGE_BYTES (a
   * single job added through a client that allows more): no worker may take it, so the ventilator
   * fails it, not retried. Results.
   */
  JobTooLarge: 'JobTooLarge',
} as const;
export type WireErrorName = (typeof WireErrorName)[keyof typeof WireErrorName];
