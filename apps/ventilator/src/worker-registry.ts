/** What the ventilator knows of one connected worker session. */
export interface WorkerSession {
  /** The DEALER's routing id, as received: the address to send to. */
  readonly routingId: Buffer;
  readonly key: string;
  /** The worker's own id (its hostname by default), for logs. */
  workerId: string;
  /** Cumulative credit the worker granted, and jobs sent to it. */
  granted: number;
  sent: number;
  /** Jobs packed for it whose write-ahead is still under way: sent next, so counted against its credit. */
  reserved: number;
  lastSeenAt: number;
  lastSentAt: number;
  draining: boolean;
  /** It asked to drain while packs for it were being written ahead: its Drained answer waits for them. */
  drainedOwed: boolean;
  /** Its first Drain was logged (a worker may repeat Drain). */
  drainLogged?: boolean;
}

/**
 * Worker sessions and their credit. A worker may receive `granted - sent - reserved` more jobs.
 * Sessions silent for three heartbeats are dropped: the caller requeues what a presumed-dead one
 * held, and leaves a draining one's jobs under their leases (PROTOCOL.md section 5).
 */
export class WorkerRegistry {
  readonly #sessions = new Map<string, WorkerSession>();
  #cursor = 0;

  constructor(private readonly heartbeatMs: number) {}

  get size(): number {
    return this.#sessions.size;
  }

  /** Applies a Credit message; returns the session (new ones start owing what the worker says it still expects). */
  credit(routingId: Buffer, workerId: string, granted: number, received: number, now = Date.now()): WorkerSession {
    const key = routingId.toString('latin1');
    let session = this.#sessions.get(key);
    if (!session) {
      session = this.#open(routingId, key, workerId, granted, received, now);
      return session;
    }
    session.workerId = workerId;
    session.lastSeenAt = now;
    if (granted > session.granted) session.granted = granted;
    // The worker got more than we count as sent: a count from an earlier session of ours. Trust it.
    if (received > session.sent) session.sent = received;
    // Jobs sent but never received, with nothing sent for two heartbeats, were lost on a broken
    // connection: stop counting them against the worker's credit (the ledger requeues them).
    if (received < session.sent && now - session.lastSentAt > 2 * this.heartbeatMs) session.sent = received;
    return session;
  }

  /**
   * Applies a Drain message: the session sends nothing more. One the registry does not know (it
   * forgot it, or this ventilator restarted) opens as PROTOCOL.md section 4 rule 1 says, with
   * `sent` = the worker's `received`, so its Drained answer tells it to wait for nothing more.
   */
  drain(routingId: Buffer, workerId: string, received: number, now = Date.now()): { session: WorkerSession; opened: boolean } {
    const key = routingId.toString('latin1');
    let session = this.#sessions.get(key);
    const opened = session === undefined;
    if (!session) {
      session = this.#open(routingId, key, workerId, received, received, now);
    } else {
      session.workerId = workerId;
      // Any message is a sign of life, Drain as much as Credit.
      session.lastSeenAt = now;
      if (received > session.sent) session.sent = received;
    }
    session.draining = true;
    return { session, opened };
  }

  #open(routingId: Buffer, key: string, workerId: string, granted: number, received: number, now: number): WorkerSession {
    const session: WorkerSession = {
      routingId,
      key,
      workerId,
      granted,
      sent: received,
      reserved: 0,
      lastSeenAt: now,
      lastSentAt: 0,
      draining: false,
      drainedOwed: false,
    };
    this.#sessions.set(key, session);
    return session;
  }

  get(routingId: Buffer): WorkerSession | undefined {
    return this.#sessions.get(routingId.toString('latin1'));
  }

  has(key: string): boolean {
    return this.#sessions.has(key);
  }

  byKey(key: string): WorkerSession | undefined {
    return this.#sessions.get(key);
  }

  sessions(): IterableIterator<WorkerSession> {
    return this.#sessions.values();
  }

  remove(session: WorkerSession): void {
    this.#sessions.delete(session.key);
  }

  available(session: WorkerSession): number {
    return session.draining ? 0 : Math.max(0, session.granted - session.sent - session.reserved);
  }

  /**
   * The next session with unused credit that `open` accepts, round-robin, or undefined when none
   * has any. Taking the one with the most credit instead sent every job of a light load to the
   * fastest worker.
   */
  pick(open: (session: WorkerSession) => boolean = () => true): WorkerSession | undefined {
    const sessions = [...this.#sessions.values()];
    for (let i = 0; i < sessions.length; i++) {
      const session = sessions[(this.#cursor + i) % sessions.length]!;
      if (this.available(session) > 0 && open(session)) {
        this.#cursor = (this.#cursor + i + 1) % sessions.length;
        return session;
      }
    }
    return undefined;
  }

  /** Removes and returns sessions not heard from in three heartbeats. */
  takeSilent(now = Date.now()): WorkerSession[] {
    const silent: WorkerSession[] = [];
    for (const session of this.#sessions.values()) {
      if (now - session.lastSeenAt > 3 * this.heartbeatMs) silent.push(session);
    }
    for (const session of silent) this.#sessions.delete(session.key);
    return silent;
  }
}
