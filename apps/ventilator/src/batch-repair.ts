import type { DispatchLedger } from '@jobpipe/ledger';
import type { Logger, Metrics } from '@jobpipe/observability';

export interface BatchRepairOptions {
  ledger: Pick<DispatchLedger, 'account'>;
  /** Whether this ventilator still holds jobs of the batch that are not written ahead yet. */
  holdsUnwritten: (batch: string) => boolean;
  logger: Logger;
  metrics: Metrics;
  labels: { readonly pipeline: string };
  /** How often each watched batch is checked, in ms (JOBPIPE_REPAIR_CHECK_MS). */
  everyMs: number;
}

/** A batch whose split is over, watched until it is done. */
interface Watched {
  /** Runs the split again, queueing the jobs the ledger does not have; resolves with their count. */
  rerun: () => Promise<number>;
  /** The ledger's account at the previous check, when it was short; a repair needs it twice. */
  shortBefore?: string;
  repairing: boolean;
}

/**
 * Anti-entropy for a Redis that lost acknowledged writes (an AOF fsync'd once a second, a
 * failover to a replica that lagged, a restore from an older snapshot). Redis comes back as it
 * was at some earlier moment: jobs written ahead and recorded since are gone from it, and their
 * results were already handed over, so no lease brings them back and the batch would wait for
 * good. Every batch whose split is over is checked now and then: when the ledger accounts for
 * fewer jobs than the batch has (in flight, recorded, dead or cancelled), twice in a row with
 * nothing moving, and this ventilator holds none of its jobs unwritten, the split runs again
 * for the jobs missing (ids are deterministic; `filter-new` keeps only those). A batch whose
 * meta Redis lost is begun and ended again first. A job may so run twice; its result is
 * recorded once (record-9.lua).
 */
export class BatchRepair {
  readonly #o: BatchRepairOptions;
  readonly #watched = new Map<string, Watched>();
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(options: BatchRepairOptions) {
    this.#o = options;
  }

  get watched(): number {
    return this.#watched.size;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.check(), this.#o.everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  watch(batch: string, rerun: () => Promise<number>): void {
    this.#watched.set(batch, { rerun, repairing: false });
  }

  forget(batch: string): void {
    this.#watched.delete(batch);
  }

  /**
   * Redis was found behind (LedgerClock): two checks a second apart now, instead of waiting up
   * to two intervals.
   */
  async checkSoon(): Promise<void> {
    await this.check();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await this.check();
  }

  /** One round over the watched batches; a round still under way is not overlapped. */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      for (const [batch, watched] of this.#watched) {
        if (watched.repairing) continue;
        await this.#checkOne(batch, watched).catch((error: Error) =>
          this.#o.logger.warn({ batch, err: error.message }, 'could not check the batch against the ledger'),
        );
      }
    } finally {
      this.#checking = false;
    }
  }

  async #checkOne(batch: string, watched: Watched): Promise<void> {
    const { ledger, holdsUnwritten, logger, metrics, labels } = this.#o;
    const account = await ledger.account(batch);
    const short =
      account === undefined || (account.status === 'running' && !account.cancelled && (account.total === null || account.accounted < account.total));
    if (!short || holdsUnwritten(batch)) {
      watched.shortBefore = undefined;
      return;
    }
    const seen = JSON.stringify(account ?? null);
    if (watched.shortBefore !== seen) {
      // Short once may be a moment between two steps; short twice, unchanged, is a loss.
      watched.shortBefore = seen;
      return;
    }
    watched.shortBefore = undefined;
    watched.repairing = true;
    const what = account === undefined ? 'batch' : 'jobs';
    metrics.ledgerRepairs.inc({ ...labels, kind: what });
    logger.warn(
      { batch, ledgerTotal: account?.total ?? null, accounted: account?.accounted ?? 0 },
      account === undefined
        ? 'the ledger lost the batch: beginning it again and sending its jobs again'
        : 'the ledger lost jobs of the batch: sending them again',
    );
    try {
      const jobs = await watched.rerun();
      logger.warn({ batch, jobs }, 'batch repaired');
    } finally {
      watched.repairing = false;
    }
  }
}
