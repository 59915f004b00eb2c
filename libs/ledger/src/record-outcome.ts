/**
 * How each result of a `record` call ended, one character per result (see commands/record-9.lua,
 * which returns the same codes). Both result ledgers answer with these.
 */
export const RecordOutcome = {
  /** Recorded: the job's result from now on (a final failure too, in the memory ledger). */
  Recorded: 'R',
  /** Dropped: the job already has a result (recorded before, or earlier in the same pack). */
  Duplicate: 'D',
  /** Dropped: no job to record it for (dead-lettered, beyond the batch's end, a batch not running or unknown). */
  Orphan: 'O',
  /** A failure that the durable ledger retries after its backoff. */
  RetryScheduled: 'T',
  /** A failure with no retry left: the job is a dead letter (durable ledger). */
  DeadLetter: 'X',
  /** Ignored: a failure of an older attempt than the one in flight (durable ledger). */
  Stale: 'S',
  /** Dropped: the job or its batch was cancelled (durable ledger, commands/cancel-7.lua); not a duplicate. */
  Cancelled: 'C',
} as const;

export type RecordOutcomeCode = (typeof RecordOutcome)[keyof typeof RecordOutcome];
