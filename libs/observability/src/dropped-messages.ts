import { LogLimiter } from './log-limiter.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/**
 * What every role does with a message it drops: counts it in
 * jobpipe_malformed_messages_total{role,reason}, and logs it at most 10 times per reason in 10 s,
 * so a flood is counted in full without flooding the log.
 */
export class DroppedMessages {
  readonly #limiter = new LogLimiter();

  constructor(
    private readonly role: 'ventilator' | 'worker' | 'sink',
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  drop(reason: string, fields: { bytes: number; detail: string; socket?: string }): void {
    this.metrics.malformedMessages.inc({ role: this.role, reason });
    const logged = this.#limiter.allow(reason);
    if (logged) this.logger.warn({ reason, ...fields, ...logged }, 'dropped a malformed message');
  }
}
