import type { Redis } from 'ioredis';
import { RedisServer } from '@jobpipe/launcher';
import { connectRedis } from '../redis-connection.js';
import { RedisLedger, type DeadLetter } from '../redis-ledger.js';
import type { DispatchLedger } from '../dispatch-ledger.js';
import type { ResultLedger } from '../result-ledger.js';
import { MemoryDispatchLedger } from '../memory-dispatch-ledger.js';
import { MemoryResultLedger } from '../memory-result-ledger.js';
import { RedisDispatchLedger } from '../redis-dispatch-ledger.js';
import { RedisResultLedger } from '../redis-result-ledger.js';

/** What a pipeline under test is set to. */
export interface LedgerSettings {
  pipeline: string;
  leaseMs: number;
  maxAttempts: number;
  retries: number;
  retryBackoffMs: number;
  /** Durable: the longest wait before a retry. @default the ledger's */
  retryBackoffMaxMs?: number;
  clock: () => number;
  /** Durable: how long a done batch's keys stay (real time: Redis expires them). @default the ledger's (24 h) */
  retentionMs?: number;
  /** Memory: done batches remembered. @default MEMORY_DONE_BATCHES_KEPT */
  doneBatchesKept?: number;
}

/** The durable ledger's dead-letter commands (`jobpipe dead`); memory has no dead letters to keep. */
export interface DeadLetterAdmin {
  list(batch: string): Promise<DeadLetter[]>;
  retry(batch: string, seqs?: number[]): Promise<number>;
  purge(batch: string, seqs?: number[]): Promise<number>;
}

/** Both sides of one pipeline's ledger, and what a restart of either finds. */
export interface PipelineLedgers {
  /** The ventilator's side. */
  dispatch: DispatchLedger;
  /** The sink's side. */
  results: ResultLedger;
  /** The dispatch side of a ventilator started anew: what outlived the old one. */
  restartVentilator(): DispatchLedger;
  /** The result side of a sink started anew. */
  restartSink(): ResultLedger;
  deadLetters: DeadLetterAdmin | undefined;
}

/** A store the contract suite runs every rule against. */
export interface LedgerStore {
  readonly name: 'memory' | 'redis';
  readonly durable: boolean;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A pipeline's ledgers with nothing in them (its own key prefix in Redis). */
  open(settings: LedgerSettings): PipelineLedgers;
}

const memory: LedgerStore = {
  name: 'memory',
  durable: false,
  async setUp() {},
  async tearDown() {},
  open(s) {
    const dispatch = () => new MemoryDispatchLedger({ leaseMs: s.leaseMs, maxAttempts: s.maxAttempts, clock: s.clock });
    const results = () => new MemoryResultLedger({ clock: s.clock, ...(s.doneBatchesKept === undefined ? {} : { doneBatchesKept: s.doneBatchesKept }) });
    return { dispatch: dispatch(), results: results(), restartVentilator: dispatch, restartSink: results, deadLetters: undefined };
  },
};

/** A redis-server of the suite's own on a free port, one per test file; never the machine's. */
class RedisStore implements LedgerStore {
  readonly name = 'redis';
  readonly durable = true;
  #server: RedisServer | undefined;
  #redis: Redis | undefined;
  #prefixes = 0;

  async setUp(): Promise<void> {
    for (let attempt = 1; !this.#server; attempt++) {
      try {
        this.#server = await RedisServer.start({ appendOnly: false });
      } catch (error) {
        // A port free a moment ago can be taken before redis-server binds it.
        if (attempt >= 3 || !/address already in use|EADDRINUSE|exited at start/i.test(String(error))) throw error;
      }
    }
    process.once('exit', () => this.#server?.killNow());
    this.#redis = connectRedis(this.#server.url);
  }

  async tearDown(): Promise<void> {
    this.#redis?.disconnect();
    await this.#server?.stop();
  }

  open(s: LedgerSettings): PipelineLedgers {
    const redis = this.#redis!;
    const prefix = `contract-${++this.#prefixes}`;
    const dispatch = () =>
      new RedisDispatchLedger(new RedisLedger(redis, prefix), { pipeline: s.pipeline, leaseMs: s.leaseMs, maxAttempts: s.maxAttempts, clock: s.clock });
    const retention = s.retentionMs === undefined ? {} : { retentionMs: s.retentionMs, deadRetentionMs: s.retentionMs };
    const results = () =>
      new RedisResultLedger(new RedisLedger(redis, prefix), {
        retries: s.retries,
        retryBackoffMs: s.retryBackoffMs,
        clock: s.clock,
        ...retention,
        ...(s.retryBackoffMaxMs === undefined ? {} : { retryBackoffMaxMs: s.retryBackoffMaxMs }),
      });
    const admin = new RedisLedger(redis, prefix);
    return {
      dispatch: dispatch(),
      results: results(),
      restartVentilator: dispatch,
      restartSink: results,
      deadLetters: {
        list: (batch) => admin.listDead(batch),
        retry: (batch, seqs) => admin.retryDead(batch, s.pipeline, seqs),
        purge: (batch, seqs) => admin.purgeDead(batch, seqs),
      },
    };
  }
}

/** Every store the contract holds: `describe.each(ledgerStores)`. */
export const ledgerStores: LedgerStore[] = [memory, new RedisStore()];
