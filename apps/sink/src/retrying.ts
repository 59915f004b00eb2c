import type { Logger } from '@jobpipe/observability';

/** The wait after a failed ledger step grows by this much per attempt, in ms... */
export const RETRY_STEP_MS = 100;
/** ...up to this, in ms: a Redis that comes back is used again within 2 s. */
export const RETRY_MAX_MS = 2000;

/**
 * Runs a ledger step until it succeeds: while Redis is away the receive loop waits here, the
 * socket's queue fills and workers are held back; nothing is dropped. Gives up (returns) once
 * `running()` is false, so a stopping sink is not held by a ledger that is gone.
 */
export async function retrying(step: () => Promise<void>, logger: Logger, running: () => boolean): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (!running()) return;
      logger.error({ err: error, attempt }, 'recording failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, RETRY_STEP_MS * attempt)));
    }
  }
}
