import type { PendingJob } from '@jobpipe/ledger';
import type { WorkerRegistry, WorkerSession } from './worker-registry.js';

/**
 * Suspects, and the workers that run them alone. A suspect is a job whose last delivery ended
 * without a result: its worker went away, or its lease ran out. It may be what killed the worker
 * (process.exit, a native crash, heap exhaustion, an event loop blocked until the watchdog killed
 * it), so it goes to a worker that holds nothing else, and that worker gets nothing more until it
 * is done with the suspect. If the worker dies again, only the suspect is charged an attempt.
 *
 * Without this, the jobs that shared a worker with a poison job were redelivered with it, packed
 * in the same message to the next worker, died with it again and became dead letters beside it.
 *
 * When suspects wait and no worker is idle, one worker (the one holding the fewest jobs) is
 * reserved: it gets no new jobs, so it becomes idle once it has finished what it holds. The others
 * go on with ordinary jobs meanwhile.
 */
export class Isolation {
  /** Suspects waiting for an idle worker, in the order they came back. */
  readonly queue: PendingJob[] = [];
  /** Sessions sent a suspect: nothing else goes to them while they hold any job. */
  readonly #isolating = new Set<string>();
  /** The session kept from new jobs until it is idle, while suspects wait. */
  #reserved: string | undefined;

  constructor(
    private readonly workers: WorkerRegistry,
    /** Jobs a session holds (dispatched, not yet recorded). */
    private readonly held: (key: string) => number,
  ) {}

  /** The session to send the next suspect to (marked as isolating), or undefined when none is idle now. */
  target(): WorkerSession | undefined {
    if (this.queue.length === 0) {
      this.#reserved = undefined;
      return undefined;
    }
    let fewest: { session: WorkerSession; held: number } | undefined;
    for (const session of this.workers.sessions()) {
      if (this.workers.available(session) === 0) continue;
      const held = this.held(session.key);
      if (held === 0) {
        this.#isolating.add(session.key);
        if (this.#reserved === session.key) this.#reserved = undefined;
        return session;
      }
      if (!this.#isolating.has(session.key) && (!fewest || held < fewest.held)) fewest = { session, held };
    }
    if (this.#reserved === undefined || !this.workers.has(this.#reserved)) this.#reserved = fewest?.session.key;
    return undefined;
  }

  /** Whether a session may be sent ordinary jobs now. */
  open(session: WorkerSession): boolean {
    if (session.key === this.#reserved) return false;
    if (this.#isolating.has(session.key)) {
      if (this.held(session.key) > 0) return false;
      this.#isolating.delete(session.key);
    }
    return true;
  }

  /** A session went away. */
  forget(key: string): void {
    this.#isolating.delete(key);
    if (this.#reserved === key) this.#reserved = undefined;
  }
}
