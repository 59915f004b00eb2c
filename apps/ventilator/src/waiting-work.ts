import type { QueueDepth } from '@jobpipe/intake';
import type { JobStream } from '@jobpipe/ledger';
import type { Logger, Metrics } from '@jobpipe/observability';

/** How often the work waiting in Redis is measured for the metrics, in ms. */
const EVERY_MS = 1000;

/**
 * Measures the work that waits in Redis for the pipeline, for autoscaling and the dashboard:
 * single jobs on the job stream and the age of the oldest, and batches in the intake queue.
 * Every ventilator of the pipeline measures the same. Returns the stopper.
 */
export function measureWaitingWork(
  stream: Pick<JobStream, 'waiting'>,
  queue: Pick<QueueDepth, 'batchesQueued'>,
  metrics: Pick<Metrics, 'streamJobsWaiting' | 'oldestWaitingSeconds' | 'batchesQueued'>,
  labels: { pipeline: string },
  logger: Logger,
): () => void {
  const measure = async () => {
    try {
      const [{ jobs, oldestMs }, batches] = await Promise.all([stream.waiting(), queue.batchesQueued()]);
      metrics.streamJobsWaiting.set(labels, jobs);
      metrics.oldestWaitingSeconds.set(labels, oldestMs / 1000);
      metrics.batchesQueued.set(labels, batches);
    } catch (error) {
      logger.debug({ err: (error as Error).message }, 'could not measure the waiting work');
    }
  };
  void measure();
  const timer = setInterval(() => void measure(), EVERY_MS);
  return () => clearInterval(timer);
}
