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
  /**
   * Its credit in bytes of Jobs messages (PROTOCOL.md 4a), once it sent one: cumulative bytes
   * granted, sent, and reserved for packs being written ahead. Undefined: credit in jobs only.
   */
  bytes?: { granted: number; sent: number; reserved: number };
  /** Not even one waiting job fitted its byte credit: it gets nothing until its next Credit. */
  waitsForBytes: boolean;
  lastSeenAt: number;
  lastSentAt: number;
  /** The jobs it says it runs at once (a Credit's optional `slots`): for the worker board only. */
  slots?: number | undefined;
  draining: boolean;
  /** Drain answers waiting for the packs being written ahead for it to leave: each gets `sent` then. */
  drainWaiters: ((sent: number) => void)[];
  /** Its first Drain was logged (a worker may repeat Drain). */
  drainLogged?: boolean;
}

/** A Credit's counts in bytes, when the worker sent them (PROTOCOL.md 4a). */
export interface ByteCredit {
  grantedBytes: number;
  receivedBytes: number;
}

/**
 * Worker sessions and their credit. A worker may receive `granted - sent - reserved` more jobs,
 * and, when it grants credit in bytes, Jobs messages of `bytes.granted - bytes.sent - bytes.reserved` bytes.
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
  credit(routingId: Buffer, workerId: string, granted: number, received: number, now = Date.now(), byteCredit?: ByteCredit): WorkerSession {
    const key = routingId.toString('latin1');
    let session = this.#sessions.get(key);
    if (!session) {
      session = this.#open(routingId, key, workerId, granted, received, now);
      if (byteCredit) session.bytes = { granted: byteCredit.grantedBytes, sent: byteCredit.receivedBytes, reserved: 0 };
      return session;
    }
    session.workerId = workerId;
    session.lastSeenAt = now;
    // The worker's latest word, in the order it sent it: a smaller grant takes back credit it had
    // not used (PROTOCOL.md section 4, worker rule 6); jobs already sent past it still count.
    session.granted = granted;
    // Nothing sent for two heartbeats: whatever the worker has not received by now was lost.
    const quiet = now - session.lastSentAt > 2 * this.heartbeatMs;
    // The worker got more than we count as sent: a count from an earlier session of ours. Trust it.
    if (received > session.sent) session.sent = received;
    // Jobs sent but never received, with nothing sent for two heartbeats, were lost on a broken
    // connection: stop counting them against the worker's credit (the ledger requeues them).
    if (received < session.sent && quiet) session.sent = received;
    if (byteCredit) {
      // The same rules, in bytes (PROTOCOL.md 4a).
      const bytes = (session.bytes ??= { granted: 0, sent: byteCredit.receivedBytes, reserved: 0 });
      if (byteCredit.grantedBytes > bytes.granted) bytes.granted = byteCredit.grantedBytes;
      if (byteCredit.receivedBytes > bytes.sent || (byteCredit.receivedBytes < bytes.sent && quiet)) bytes.sent = byteCredit.receivedBytes;
    }
    // Worth another look: the credit may have grown (or packs reserved for it have left meanwhile).
    session.waitsForBytes = false;
    return session;
  }

  /**
   * Applies a Drain message to a session it knows: it is sent nothing more. Undefined for one it
   * does not know (it forgot it, or this ventilator restarted, or the worker never granted this
   * lane credit): the ventilator answers such a Drain with the worker's own count (PROTOCOL.md
   * section 4 rule 1), and nothing need be kept of it.
   */
  drain(routingId: Buffer, workerId: string, now = Date.now()): WorkerSession | undefined {
    const session = this.#sessions.get(routingId.toString('latin1'));
    if (!session) return undefined;
    session.workerId = workerId;
    // Any message is a sign of life, Drain as much as Credit.
    session.lastSeenAt = now;
    session.draining = true;
    return session;
  }

  #open(routingId: Buffer, key: string, workerId: string, granted: number, received: number, now: number): WorkerSession {
    const session: WorkerSession = {
      routingId,
      key,
      workerId,
      granted,
      sent: received,
      reserved: 0,
      waitsForBytes: false,
      lastSeenAt: now,
      lastSentAt: 0,
      draining: false,
      drainWaiters: [],
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

  /** Jobs it may be sent now: none while draining, or while it waits for byte credit. */
  available(session: WorkerSession): number {
    return session.draining || session.waitsForBytes ? 0 : Math.max(0, session.granted - session.sent - session.reserved);
  }

  /** Bytes of Jobs messages it may be sent now; unbounded when it grants credit in jobs only. */
  availableBytes(session: WorkerSession): number {
    const bytes = session.bytes;
    return bytes ? Math.max(0, bytes.granted - bytes.sent - bytes.reserved) : Number.POSITIVE_INFINITY;
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
