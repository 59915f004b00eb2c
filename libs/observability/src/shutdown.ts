import type { Logger } from 'pino';

/**
 * Calls `stop` once on the first SIGTERM or SIGINT (what Kubernetes, compose and Ctrl-C send), then
 * exits 0 when it resolves. A second signal, or `stop` running past `graceMs`, exits 1 at once.
 */
export function exitOnSignals(stop: () => Promise<void>, logger: Logger, graceMs = 30_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      },
      (error: Error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
