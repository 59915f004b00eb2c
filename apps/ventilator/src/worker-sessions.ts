import { leftOut, LogLimiter, type Logger } from '@jobpipe/observability';
import type { Backlog } from './backlog.js';
import type { Isolation } from './isolation.js';
import type { Reaper } from './reaper.js';
import type { ByteCredit, WorkerRegistry, WorkerSession } from './worker-registry.js';

export interface WorkerSessionsOptions {
  workers: WorkerRegistry;
  isolation: Isolation;
  backlog: Backlog;
  /** Takes back the jobs of a worker presumed dead. */
  reaper: Pick<Reaper, 'release'>;
  logger: Logger;
  /** For the log line of a drained worker that left jobs under their leases. */
  leaseMs: number;
}

/** Session lines of one kind logged in 10 s at most. */
export const SESSION_LINES_PER_10_S = 100;

/**
 * The worker side of the protocol for one lane (PROTOCOL.md sections 4 and 5): Credit and Drain
 * messages, and sessions that fell silent or became unreachable. The ventilator answers Drain
 * once every lane that knows the session has its count.
 */
export class WorkerSessions {
  readonly #o: WorkerSessionsOptions;
  /**
   * Joins and silences are logged a hundred a kind in 10 s at most (then how many were left out):
   * a deployment's workers all get their line, a peer opening sessions by the thousand does not.
   */
  readonly #lines = new LogLimiter(SESSION_LINES_PER_10_S);

  constructor(options: WorkerSessionsOptions) {
    this.#o = options;
  }

  credit(routingId: Buffer, workerId: string, granted: number, received: number, byteCredit?: ByteCredit, slots?: number): void {
    const { workers, backlog, logger } = this.#o;
    const known = workers.get(routingId);
    const session = workers.credit(routingId, workerId, granted, received, Date.now(), byteCredit);
    // What the worker says it runs at once: shown on the worker board, never credit.
    session.slots = slots;
    if (!known) {
      const allowed = this.#lines.allow('joined');
      if (allowed) logger.info({ worker: workerId, credit: granted - received, ...leftOut(allowed) }, 'worker joined');
    }
    if (workers.available(session) > 0) backlog.changed.notify();
  }

  /**
   * The session drains: it is sent nothing more. Resolves with the jobs sent to it once the packs
   * being written ahead for it have left (they still go, and its Drained answer counts them), or
   * undefined when this lane does not know the session.
   */
  drain(routingId: Buffer, workerId: string): Promise<number> | undefined {
    const session = this.#o.workers.drain(routingId, workerId);
    if (!session) return undefined;
    // Logged once: a worker repeats Drain as its heartbeat.
    if (!session.drainLogged) {
      session.drainLogged = true;
      this.#o.logger.info({ worker: workerId, sent: session.sent }, 'worker draining');
    }
    if (session.reserved === 0) return Promise.resolve(session.sent);
    return new Promise((resolve) => session.drainWaiters.push(resolve));
  }

  /** A pack for the session left (or went back in line): a drain answer that waited for it is given, this pack counted. */
  packLeft(session: WorkerSession): void {
    if (session.drainWaiters.length > 0 && session.reserved === 0) for (const answer of session.drainWaiters.splice(0)) answer(session.sent);
  }

  /** Every heartbeat interval: sessions silent for three are dropped. */
  dropSilent(): void {
    for (const session of this.#o.workers.takeSilent()) {
      if (session.draining) this.#forgetDrained(session);
      else {
        const allowed = this.#lines.allow('silent');
        if (allowed) this.#o.logger.warn({ worker: session.workerId, ...leftOut(allowed) }, 'worker silent for 3 heartbeats; requeueing its jobs');
        void this.lost(session, 'silent for 3 heartbeats');
      }
    }
  }

  /** A session presumed dead: it is forgotten and the jobs it held are taken back. */
  async lost(session: WorkerSession, why: string): Promise<void> {
    const { workers, isolation, backlog, reaper } = this.#o;
    workers.remove(session);
    isolation.forget(session.key);
    await reaper.release(backlog.takeHeldBy(session.key), session.workerId, why);
  }

  /**
   * A session that asked to drain and then went quiet has finished and exited, or is still
   * finishing its jobs without a heartbeat (PROTOCOL.md section 5 lets it): silence does not tell
   * a dead one from either, so its jobs are not taken back here. Their results may be on their
   * way to the sink; whatever has none when its lease runs out is sent again by the reaper.
   */
  #forgetDrained(session: WorkerSession): void {
    const { workers, isolation, backlog, logger, leaseMs } = this.#o;
    workers.remove(session);
    isolation.forget(session.key);
    const held = backlog.forgetHolder(session.key);
    if (held === 0) logger.info({ worker: session.workerId }, 'drained worker left');
    else logger.info({ worker: session.workerId, held, leaseMs }, 'drained worker quiet; its unrecorded jobs stay under their leases');
  }
}
