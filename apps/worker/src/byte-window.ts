/**
 * A worker's credit in bytes (PROTOCOL.md 4a): it holds at most `window` bytes of Jobs messages,
 * counting those granted and still on the wire. Each message's bytes are shared among its jobs,
 * and a job's share is held until its result has been handed to the sink: so the payloads, what
 * the handlers make of them, and their results stay bounded whatever the job size. Kept beside the
 * credit in jobs (credit-window.ts): the ventilator sends no more than either allows.
 */
export class ByteWindow {
  /** Cumulative bytes granted to the ventilator. */
  granted = 0;
  /** Cumulative bytes of Jobs messages received. */
  received = 0;
  /** Bytes of the jobs received and not yet done with (running, waiting, or their results unsent). */
  held = 0;
  /** The most bytes held at once so far. */
  peak = 0;

  constructor(readonly window: number) {}

  /** A Jobs message of `bytes` came with `jobs` jobs: each job's share, in whole bytes that add up to `bytes`. */
  receive(bytes: number, jobs: number): number[] {
    this.received += bytes;
    this.held += bytes;
    if (this.held > this.peak) this.peak = this.held;
    const share = Math.floor(bytes / jobs);
    const remainder = bytes - share * jobs;
    const shares = new Array<number>(jobs);
    for (let i = 0; i < jobs; i++) shares[i] = i < remainder ? share + 1 : share;
    return shares;
  }

  /** Jobs done with: their shares are free again. */
  release(bytes: number): void {
    this.held -= bytes;
  }

  /**
   * Bytes to grant now, or 0. Small grants wait until they are worth a message (a quarter of
   * the window) unless `now` (credit in jobs goes out anyway) or nothing is held or owed.
   */
  toGrant(now = false): number {
    const owed = this.granted - this.received;
    const want = this.window - this.held - owed;
    if (want <= 0) return 0;
    if (!now && want < this.window / 4 && this.held + owed > 0) return 0;
    this.granted += want;
    return want;
  }
}
