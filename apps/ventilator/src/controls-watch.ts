import { cancelNoticeKey, type PipelineControls } from '@jobpipe/ledger';
import type { Logger } from '@jobpipe/observability';
import type { PipelineLane } from './pipeline-lane.js';

/** How often a ventilator reads its pipeline's controls: a pause takes effect within this. */
export const CONTROLS_EVERY_MS = 250;

/**
 * Reads the pipeline's controls (`jobpipe pause`, `resume`, `limit`) and its recent cancels
 * (`jobpipe cancel`) now and every `everyMs`, and applies them to the ventilator, each cancel
 * once; says so in the log when they change. Returns the stopper.
 */
export function watchControls(
  controls: Pick<PipelineControls, 'read'>,
  ventilator: Pick<PipelineLane, 'setControls' | 'controls' | 'cancel'>,
  logger: Logger,
  everyMs = CONTROLS_EVERY_MS,
): () => void {
  let reading = false;
  /** The cancels applied, as the notice lists them: forgotten once the notice drops them. */
  let applied = new Set<string>();
  const read = async () => {
    if (reading) return;
    reading = true;
    try {
      const state = await controls.read();
      const before = ventilator.controls;
      ventilator.setControls(state.paused, state.rateLimit);
      const after = ventilator.controls;
      if (before.paused !== after.paused) logger.info({ paused: after.paused }, after.paused ? 'pipeline paused: no job is sent' : 'pipeline resumed');
      if (before.rateLimit !== after.rateLimit) logger.info({ rateLimit: after.rateLimit }, 'rate limit changed');
      const listed = new Set<string>();
      for (const notice of state.cancels) {
        const key = cancelNoticeKey(notice);
        listed.add(key);
        if (!applied.has(key)) await ventilator.cancel(notice);
      }
      applied = listed;
    } catch (error) {
      // Redis away: the role's own connection says so; the last controls hold meanwhile.
      logger.debug({ err: (error as Error).message }, 'could not read the pipeline controls');
    } finally {
      reading = false;
    }
  };
  void read();
  const timer = setInterval(() => void read(), everyMs);
  return () => clearInterval(timer);
}
