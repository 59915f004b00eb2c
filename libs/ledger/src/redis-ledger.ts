import { randomBytes } from 'node:crypto';
import { heldPayload, LARGE_PAYLOAD_CHARS, payloadText, type BatchSummary, type JobResult, type PayloadJson } from '@jobpipe/protocol';
import { DEFAULT_DEAD_RETENTION_MS, DEFAULT_RETENTION_MS } from '@jobpipe/config';
import { JobpipeError, WireErrorName } from '@jobpipe/protocol/errors';
import { bucketPipeline } from './job-stream.js';
import { cancelKeys, completeKeys, LedgerKeys, recordKeys, retryDeadKeys } from './keys.js';
import type { Redis } from 'ioredis';
import { registerScripts, type LedgerCommands, type RedisClient } from './scripts.js';

/** A job as the ledger keeps it: its payload stays JSON text (or its bytes) from the split to the wire. */
export interface LedgerJob {
  seq: number;
  attempt: number;
  payloadJson: PayloadJson;
}

/** A job the reaper took for redelivery. */
export interface DueJob extends LedgerJob {
  /**
   * Its last delivery ended without a result (lease ran out, worker went away), rather than with
   * a failure being retried: it may be what killed its worker (see commands/take-due-6.lua).
   */
  lost: boolean;
}

export interface RecordResult {
  /** One RecordOutcome code per result, in order. */
  outcomes: string;
  recorded: number;
  dead: number;
  total: number | null;
  status: string | null;
  /** When the batch began (epoch ms), or null for a batch the ledger does not know. */
  startedAt: number | null;
  /** Jobs cancelled (commands/cancel-7.lua). */
  cancelled: number;
  /** When the whole batch was cancelled (epoch ms), or null. */
  cancelledAt: number | null;
}

/**
 * What a cancel did (commands/cancel-7.lua). A batch: `codes` 'C' (cancelled now), 'A' (before),
 * 'D' (done before it could be). Jobs: a code per seq, C cancelled now, A before, R has a result,
 * X is a dead letter, U unknown, D its batch is done. `cancelled`: jobs cancelled now.
 */
export interface CancelResult {
  codes: string;
  cancelled: number;
}

export type BatchStatus = 'running' | 'done';

export interface BatchInfo {
  batch: string;
  pipeline: string;
  status: BatchStatus;
  total: number | null;
  recorded: number;
  dead: number;
  /** Jobs cancelled: one by one, or all that were left when the batch was (see cancel). */
  cancelled: number;
  /** When the whole batch was cancelled (epoch ms), or null. */
  cancelledAt: number | null;
  /** Results recorded for seqs past the end, removed when it was known (commands/end-batch-2.lua). */
  pastEnd: number;
  startedAt: number;
  finishedAt: number | null;
  summary: BatchSummary | null;
}

/** The results of a MULTI's commands; the first error, or an aborted transaction, is thrown. */
function repliesOf(replies: [Error | null, unknown][] | null, what: string): unknown[] {
  const failed = replies?.find(([error]) => error);
  if (!replies || failed) throw failed?.[0] ?? new Error(`${what} transaction was aborted`);
  return replies.map(([, result]) => result);
}

/** A write reached fewer replicas than RedisLedger.requireReplicas asks for, in time: it does not count yet. */
export class ReplicasBehindError extends JobpipeError {
  override name = 'ReplicasBehindError';
  constructor(what: string, acked: number, wanted: number, timeoutMs: number) {
    super(`${what}: ${acked} of ${wanted} replica(s) had it within ${timeoutMs} ms (JOBPIPE_REDIS_WAIT_REPLICAS); it is tried again`);
  }
}

/** What the ledger can account for of a batch (RedisLedger.account). */
export interface BatchAccount {
  status: BatchStatus;
  /** Null until the split's end was written. */
  total: number | null;
  /** Jobs in flight, recorded, dead or cancelled one by one. */
  accounted: number;
  /** The whole batch was cancelled: what it had in flight left the ledger uncounted here. */
  cancelled: boolean;
}

export interface DeadLetter {
  batch: string;
  seq: number;
  attempts: number;
  payload: unknown;
  error: { name: string; message: string } | null;
}

/**
 * How long a done batch's keys stay (see commands/complete-10.lua), unless its submission says
 * otherwise; 0 keeps them forever.
 */
export interface Retention {
  /** Every done batch. @default DEFAULT_RETENTION_MS (24 h; JOBPIPE_RETENTION) */
  retentionMs: number;
  /** A done batch with dead letters, if longer. @default DEFAULT_DEAD_RETENTION_MS (7 d; JOBPIPE_DEAD_RETENTION) */
  deadRetentionMs: number;
}

export const DEFAULT_RETENTION: Retention = { retentionMs: DEFAULT_RETENTION_MS, deadRetentionMs: DEFAULT_DEAD_RETENTION_MS };

/** One page of a batch's recorded results (see RedisLedger.resultsPage). */
export interface ResultsPage {
  /** Each result's value as the JSON text recorded, by seq. */
  results: { seq: number; valueJson: string }[];
  /** Where the next page starts, or null after the last. */
  next: string | null;
}

/** Done batches whose expiry one trim looks at, at most (see trimExpired). */
const TRIM_PER_CALL = 200;

/** The cap and the jitter of a failed job's retry backoff (see RedisLedger.record and record-9.lua). */
export interface RetryBackoff {
  /** The longest wait before a retry, in ms. @default none */
  maxMs?: number;
  /** Seeds the jitter of this pack's retries, an integer 0 .. 2^31-1; none: no jitter. */
  seed?: number;
}

/** How long a record call's outcomes are kept for a resend of the same call. */
const RECORD_CALL_TTL_MS = 10 * 60_000;

/**
 * Answered record calls whose keys are deleted together. A call's key serves only a resend of
 * that call (ioredis resends what a dropped connection left unanswered); once answered it is dead
 * weight, and a sink at a light load makes about 1,000 calls a second.
 */
const FORGET_ANSWERED_CALLS = 500;

/** Most arguments one script call takes: Lua's unpack() stops near 8,000. */
const MAX_PER_CALL = 2000;

/** Pack leases one expire-packs call takes: up to 20 packs of 500 jobs, about a millisecond of Redis. */
const PACKS_PER_EXPIRY = 20;

/**
 * The durable ledger in Redis: every in-flight job with its lease, every recorded result, the dead
 * letters and each batch's counters. Every method is one round trip, whatever the number of jobs
 * (up to 2,000 per call): one command per job would cap a pipeline near 5,000 jobs/s (measured: 4,000-7,000).
 */
export class RedisLedger {
  readonly keys: LedgerKeys;
  readonly redis: RedisClient & LedgerCommands;
  /** Names this client's record calls, so a resent call is recognised (see record-9.lua). */
  readonly #callPrefix = randomBytes(6).toString('hex');
  #calls = 0;
  /** The call names of each pack of results being recorded, for a retry of the same pack. */
  readonly #callNames = new WeakMap<JobResult[], string[]>();
  /**
   * Keys of answered record calls, not yet deleted (the rest of the way, their expiry does it), by
   * batch: one UNLINK takes only keys of one hash slot on a cluster.
   */
  #answered = new Map<string, string[]>();
  #answeredCount = 0;

  /** `redis`: a client of one server, or of a Redis Cluster (every batch's keys share a hash tag). */
  /** Replicas each write-ahead and record waits for (requireReplicas); 0: none. */
  #waitReplicas = 0;
  #waitTimeoutMs = 1000;

  constructor(redis: RedisClient, prefix = 'jobpipe') {
    this.redis = registerScripts(redis);
    this.keys = new LedgerKeys(prefix);
  }

  /**
   * Makes each write-ahead (`admit`), each record and each batch's end wait until `replicas` replicas have it
   * (Redis's WAIT, for every write this connection made so far); fewer within `timeoutMs` fails
   * the call with a ReplicasBehindError, and its caller tries it again (both are safe to repeat).
   * A failover to a replica then keeps every job and result the roles went on from. One server
   * or Sentinel only: on a cluster WAIT would go to any node.
   */
  requireReplicas(replicas: number, timeoutMs: number): void {
    this.#waitReplicas = replicas;
    this.#waitTimeoutMs = timeoutMs;
  }

  async #replicated(what: string): Promise<void> {
    if (this.#waitReplicas === 0) return;
    const acked = await (this.redis as Redis).wait(this.#waitReplicas, this.#waitTimeoutMs);
    if (acked < this.#waitReplicas) throw new ReplicasBehindError(what, acked, this.#waitReplicas, this.#waitTimeoutMs);
  }

  /**
   * Opens a batch, or finds it again after a restart; `created` when this call opened it. The
   * batch's meta hash, the list of batches and the pipeline's active set are three hash slots on
   * a cluster: the meta first (commands/begin-1.lua), then the other two at once. A restart
   * between them is mended by the next begin of the batch (a resumed batch begins again), which
   * adds it to both wherever it is missing.
   */
  async beginBatch(batch: string, pipeline: string, now = Date.now()): Promise<BatchInfo & { created: boolean }> {
    const [created, flat] = await this.redis.jobpipeBegin(this.keys.batch(batch).meta, now, pipeline);
    const meta: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) meta[flat[i]!] = flat[i + 1]!;
    const info = infoOf(batch, meta)!;
    if (info.pipeline !== pipeline) throw new Error(`batch ${batch} belongs to pipeline ${info.pipeline}, not ${pipeline}`);
    await Promise.all([
      this.redis.zadd(this.keys.batches, 'NX', info.startedAt, batch),
      info.status === 'done' ? undefined : this.redis.sadd(this.keys.active(pipeline), batch),
    ]);
    return { ...info, created: created === 1 };
  }

  /**
   * The split is over: the batch has `total` jobs. Results recorded for seqs past its end leave
   * (commands/end-batch-2.lua); returns how many did.
   */
  async endBatch(batch: string, total: number): Promise<number> {
    const k = this.keys.batch(batch);
    const past = await this.redis.jobpipeEndBatch(k.meta, k.results, total);
    // The sink is told of the end next: with requireReplicas, the replicas have it first.
    await this.#replicated('end of the split');
    return past;
  }

  /**
   * Write-ahead: the jobs are in the ledger with a lease before they leave the ventilator. Jobs
   * that meanwhile got a result or became dead letters are skipped (see commands/admit-6.lua).
   * `recheck` false skips that check, for fresh jobs of a batch that was not resumed. Returns the
   * seqs skipped, which must not be sent.
   */
  async admit(batch: string, jobs: LedgerJob[], leaseDeadline: number, recheck = true): Promise<number[]> {
    const k = this.keys.batch(batch);
    if (!recheck && isRun(jobs)) {
      // Fresh jobs with consecutive seqs, as the split makes them: one lease for the pack, and no
      // script. A lease per job cost Redis a third of its time per job (ZADD, then ZREM).
      const fields: (string | number | Buffer)[] = [];
      for (const job of jobs) fields.push(job.seq, entryOf(job));
      const replies = await this.redis
        .multi()
        .hset(k.inflight, ...fields)
        .zadd(k.packs, leaseDeadline, `${jobs[0]!.seq}:${jobs.length}`)
        .exec();
      repliesOf(replies, 'write-ahead');
      await this.#replicated('write-ahead');
      return [];
    }
    const skipped: number[] = [];
    for (let start = 0; start < jobs.length; start += MAX_PER_CALL) {
      const args: (string | number | Buffer)[] = [k.inflight, k.leases, k.meta, k.results, k.dead, k.cancelled, leaseDeadline, recheck ? '1' : '0'];
      for (const job of jobs.slice(start, start + MAX_PER_CALL)) args.push(job.seq, entryOf(job));
      for (const seq of await this.redis.jobpipeAdmit(...args)) skipped.push(Number(seq));
    }
    await this.#replicated('write-ahead');
    return skipped;
  }

  /**
   * Records a pack of results from one worker; see RecordOutcome for what happened to each. A
   * failure retried waits between `backoffMs` * 2^(attempt-1) and twice that, at most
   * `backoff.maxMs` (see record-9.lua); without `backoff.seed` always the least of that.
   */
  async record(
    batch: string,
    worker: string,
    results: JobResult[],
    retries: number,
    backoffMs: number,
    now = Date.now(),
    backoff: RetryBackoff = {},
  ): Promise<RecordResult> {
    const k = this.keys.batch(batch);
    // The same results again (a caller retrying after a failure) go under the same call names: a
    // call that ran before the failure answers what it did then, rather than calling its results
    // duplicates, which the caller would then leave out of its answer.
    let calls = this.#callNames.get(results);
    if (!calls) {
      calls = [];
      for (let start = 0; start < results.length; start += MAX_PER_CALL) calls.push(`${k.calls}${this.#callPrefix}-${++this.#calls}`);
      this.#callNames.set(results, calls);
    }
    // Every call is sent before any is awaited, so they run back to back: the counters in the last
    // reply then cover this pack and nothing recorded after it by another caller, whose reply
    // would come later.
    // A bucket's late results of jobs Redis lost are not taken for those of new jobs of the same id.
    const inFlightOnly = bucketPipeline(batch) === undefined ? '0' : '1';
    const sent = calls.map((call, n) => {
      const start = n * MAX_PER_CALL;
      const end = Math.min(results.length, start + MAX_PER_CALL);
      // Each value's JSON goes as a JSON string: Lua's cjson would rewrite numbers with fewer digits.
      let quads = '[';
      for (let i = start; i < end; i++) {
        const result = results[i]!;
        const body = JSON.stringify(JSON.stringify(result.ok ? result.value : result.error) ?? 'null');
        quads += `${i === start ? '' : ','}"${result.seq}",${result.attempt},${result.ok ? 1 : 0},${body}`;
      }
      // Each call its own seed: calls of one pack drawing alike would bring their jobs back in step.
      const seed = backoff.seed === undefined ? '' : (backoff.seed + n) % 2 ** 31;
      return this.redis.jobpipeRecord(
        ...recordKeys(k, call),
        worker,
        retries,
        now,
        backoffMs,
        RECORD_CALL_TTL_MS,
        `${quads}]`,
        backoff.maxMs ?? '',
        seed,
        inFlightOnly,
      );
    });
    const replies = await Promise.all(sent);
    await this.#replicated('record');
    this.#forgetAnswered(batch, calls);
    const outcomes = replies.map((reply) => reply[0]).join('');
    const reply = replies.at(-1);
    return {
      outcomes,
      recorded: Number(reply?.[1] ?? 0),
      dead: Number(reply?.[2] ?? 0),
      total: reply?.[3] == null ? null : Number(reply[3]),
      status: reply?.[4] ?? null,
      startedAt: reply?.[5] == null ? null : Number(reply[5]),
      cancelled: Number(reply?.[6] ?? 0),
      cancelledAt: reply?.[7] == null ? null : Number(reply[7]),
    };
  }

  #forgetAnswered(batch: string, calls: string[]): void {
    let keys = this.#answered.get(batch);
    if (!keys) this.#answered.set(batch, (keys = []));
    keys.push(...calls);
    this.#answeredCount += calls.length;
    if (this.#answeredCount < FORGET_ANSWERED_CALLS) return;
    const answered = this.#answered;
    this.#answered = new Map();
    this.#answeredCount = 0;
    // Best effort: a key this misses expires on its own (RECORD_CALL_TTL_MS). One UNLINK per
    // batch (one slot each); a sink records a batch or two at a time.
    for (const keys of answered.values()) this.redis.unlink(...keys).catch(() => {});
  }

  /** Takes up to `limit` jobs whose lease or retry backoff is over, with their attempt raised. */
  async takeDue(batch: string, limit: number, maxAttempts: number, reserveUntil: number, now = Date.now()): Promise<{ jobs: DueJob[]; deadLettered: number }> {
    const k = this.keys.batch(batch);
    // Pack leases first, a few packs a call: each call scans their jobs, and Redis serves no one
    // else meanwhile.
    while ((await this.redis.jobpipeExpirePacks(k.inflight, k.leases, k.packs, now, PACKS_PER_EXPIRY)) === PACKS_PER_EXPIRY);
    const reply = await this.redis.jobpipeTakeDue(k.inflight, k.leases, k.dead, k.errors, k.meta, k.cancelled, now, limit, reserveUntil, maxAttempts);
    const jobs: DueJob[] = [];
    for (let i = 1; i < reply.length; i += 3) jobs.push({ ...parseEntry(Number(reply[i]), String(reply[i + 1])), lost: Number(reply[i + 2]) === 1 });
    return { jobs, deadLettered: Number(reply[0]) };
  }

  /**
   * Makes these jobs' leases run out now (their worker is gone), so the reaper sends them again;
   * `error` (a WorkerLost, say) becomes their last error. Jobs no longer in flight are left alone.
   */
  async expireNow(
    batch: string,
    seqs: number[],
    error: { name: string; message: string } = { name: WireErrorName.WorkerLost, message: 'its worker went away' },
  ): Promise<void> {
    const k = this.keys.batch(batch);
    const json = JSON.stringify(error);
    for (let start = 0; start < seqs.length; start += MAX_PER_CALL) {
      await this.redis.jobpipeRelease(k.inflight, k.leases, k.errors, json, ...seqs.slice(start, start + MAX_PER_CALL));
    }
  }

  /** Moves the leases of these jobs to `until` (epoch ms); jobs no longer in flight are left alone. */
  async extendLeases(batch: string, seqs: number[], until: number): Promise<void> {
    await this.#moveLeases(this.keys.batch(batch).leases, seqs, until);
  }

  /** Gives these members of a lease zset (jobs or packs) the deadline `until`; members gone are left alone. */
  async #moveLeases(key: string, members: (string | number)[], until: number): Promise<void> {
    for (let start = 0; start < members.length; start += MAX_PER_CALL) {
      const args: (string | number)[] = [];
      for (const member of members.slice(start, start + MAX_PER_CALL)) args.push(until, member);
      await this.redis.zadd(key, 'XX', ...args);
    }
  }

  /**
   * Makes every lease (of a job or of a pack) that runs out before `deadlineBefore` run out at
   * `now`, so the reaper takes those jobs at once; returns how many leases it moved. After Redis
   * went back in time its leases are those of a past moment: the jobs they stand for were most
   * likely done since, their records lost with the rest, and would otherwise wait a whole
   * lease. A job still running somewhere then runs twice; its result is recorded once.
   */
  async cutLeasesBefore(batch: string, deadlineBefore: number, now = Date.now()): Promise<number> {
    const k = this.keys.batch(batch);
    let moved = 0;
    for (const key of [k.leases, k.packs]) {
      const members = await this.redis.zrangebyscore(key, '-inf', `(${deadlineBefore}`);
      await this.#moveLeases(key, members, now);
      moved += members.length;
    }
    return moved;
  }

  /**
   * What the ledger holds of a batch, in one transaction: its status, its total, and how many
   * of its jobs it can account for (in flight, recorded, dead or cancelled). Undefined when it
   * has no meta hash: Redis lost the batch's begin (or the batch expired). A sum below the
   * total means jobs Redis lost (BatchRepair); a job in two of the hashes at once is not a state
   * the scripts make, so the sum counts each job once.
   */
  async account(batch: string): Promise<BatchAccount | undefined> {
    const k = this.keys.batch(batch);
    const replies = await this.redis
      .multi()
      .hmget(k.meta, 'status', 'total', 'cancelledAt')
      .hlen(k.inflight)
      .hlen(k.results)
      .hlen(k.dead)
      .hlen(k.cancelled)
      .exec();
    const [meta, ...counts] = repliesOf(replies, 'account');
    const [status, total, cancelledAt] = meta as (string | null)[];
    if (status === null || status === undefined) return undefined;
    const accounted = counts.reduce((sum: number, count) => sum + Number(count), 0);
    return {
      status: status as BatchStatus,
      total: total === null || total === undefined ? null : Number(total),
      accounted,
      cancelled: cancelledAt !== null && cancelledAt !== undefined,
    };
  }

  /** Of these jobs, the ones never dispatched: a resumed split skips the others. */
  async filterNew(batch: string, seqs: number[]): Promise<number[]> {
    const k = this.keys.batch(batch);
    const fresh: number[] = [];
    for (let start = 0; start < seqs.length; start += MAX_PER_CALL) {
      const reply = await this.redis.jobpipeFilterNew(k.inflight, k.results, k.dead, ...seqs.slice(start, start + MAX_PER_CALL));
      for (const seq of reply) fresh.push(Number(seq));
    }
    return fresh;
  }

  /**
   * Marks the batch done with its summary if every job has a result or is dead; true for the one
   * caller that did. The script decides (the batch's slot); the pipeline's active set (another
   * slot) loses the batch after, whenever the batch is found done: a crash in between leaves a
   * done batch in the set, which the next complete of it (the sink's reconcile) takes out, and
   * which a reaper meanwhile finds nothing due in. A dead letter retried at the same moment
   * (retryDead) may make the batch run again between the script and the SREM: the status is read
   * after the SREM and the batch put back if it runs.
   */
  async complete(batch: string, pipeline: string, summary: BatchSummary, now = Date.now(), retention: Retention = DEFAULT_RETENTION): Promise<boolean> {
    const k = this.keys.batch(batch);
    const [outcome, leftMs] = await this.redis.jobpipeComplete(
      ...completeKeys(k),
      JSON.stringify(summary),
      now,
      retention.retentionMs,
      retention.deadRetentionMs,
    );
    if (outcome === 0) return false;
    // Before the SREM: a crash in between leaves the batch active, and the next complete of it
    // (the sink's reconcile) comes here again.
    if (leftMs > 0) await this.redis.zadd(this.keys.expiring, now + leftMs, batch);
    const active = this.keys.active(pipeline);
    await this.redis.srem(active, batch);
    if ((await this.redis.hget(k.meta, 'status')) === 'running') await this.redis.sadd(active, batch);
    this.#forgetCalls(batch);
    return outcome === 1;
  }

  /**
   * Cancels a batch (no `seqs`) or some of its jobs (see commands/cancel-7.lua): what is cancelled
   * is never sent again nor recorded, and counts toward the batch's completion. `knownJobs`: how
   * many jobs the batch has had so far if the caller knows better than the ledger (a bucket of
   * single jobs still taking jobs). A batch not begun yet (queued) is begun here, so the sink
   * completes it as cancelled. The pipeline's ventilators are told apart (PipelineControls.noteCancel).
   * @throws Error WRONG_PIPELINE for a batch of another pipeline
   */
  async cancel(batch: string, pipeline: string, seqs?: readonly number[], knownJobs?: number, now = Date.now()): Promise<CancelResult> {
    const k = this.keys.batch(batch);
    const [codes, count] = await this.redis.jobpipeCancel(...cancelKeys(k), now, pipeline, knownJobs ?? '', ...(seqs ?? []));
    if (seqs === undefined && codes === 'C') {
      // As beginBatch does: listed, and active until the sink completes it.
      await this.redis.zadd(this.keys.batches, 'NX', now, batch);
      await this.redis.sadd(this.keys.active(pipeline), batch);
    }
    return { codes, cancelled: Number(count) };
  }

  /**
   * Takes the batches whose keys have expired out of the list of batches (`batches`), up to
   * TRIM_PER_CALL of them a call; returns how many. Reads only the batches due to expire by now
   * (the `expiring` zset, by deadline), so it costs the same however many batches ran before. A
   * batch due but still there (a dead-letter retry made it run again, or gave its keys a new
   * expiry) stays listed: a running one leaves `expiring` until it is done again, one that expires
   * later moves to its new deadline.
   */
  async trimExpired(now = Date.now()): Promise<number> {
    const due = await this.redis.zrangebyscore(this.keys.expiring, '-inf', now, 'LIMIT', 0, TRIM_PER_CALL);
    if (due.length === 0) return 0;
    // One command per batch, all sent at once: each batch's meta is in a slot of its own.
    const left = await Promise.all(due.map((batch) => this.redis.pttl(this.keys.batch(batch).meta)));
    const gone: string[] = [];
    const running: string[] = [];
    const later: (string | number)[] = [];
    due.forEach((batch, i) => {
      const ms = left[i]!;
      if (ms === -2) gone.push(batch);
      else if (ms === -1) running.push(batch);
      else later.push(now + ms, batch);
    });
    if (gone.length > 0) await this.redis.zrem(this.keys.batches, ...gone);
    if (gone.length + running.length > 0) await this.redis.zrem(this.keys.expiring, ...gone, ...running);
    if (later.length > 0) await this.redis.zadd(this.keys.expiring, ...later);
    return gone.length;
  }

  /** Deletes the keys of this client's answered record calls of a done batch (their expiry would, within RECORD_CALL_TTL_MS). */
  #forgetCalls(batch: string): void {
    const keys = this.#answered.get(batch);
    if (!keys) return;
    this.#answered.delete(batch);
    this.#answeredCount -= keys.length;
    this.redis.unlink(...keys).catch(() => {});
  }

  async batchInfo(batch: string): Promise<BatchInfo | undefined> {
    return infoOf(batch, await this.redis.hgetall(this.keys.batch(batch).meta));
  }

  /** Recorded results per worker id. */
  async workerCounts(batch: string): Promise<Record<string, number>> {
    const counts = await this.redis.hgetall(this.keys.batch(batch).workers);
    return Object.fromEntries(Object.entries(counts).map(([worker, count]) => [worker, Number(count)]));
  }

  async activeBatches(pipeline: string): Promise<string[]> {
    return this.redis.smembers(this.keys.active(pipeline));
  }

  /** Batch ids, newest first. */
  async listBatches(limit = 50): Promise<string[]> {
    return this.redis.zrevrange(this.keys.batches, 0, limit - 1);
  }

  /** Calls `each` with every recorded result of a batch, streamed (HSCAN), e.g. to fold them again. */
  async forEachResult(batch: string, each: (seq: number, value: unknown) => void | Promise<void>): Promise<number> {
    const key = this.keys.batch(batch).results;
    // HSCAN may return an entry twice (while the hash is rehashed): fold each seq once.
    const seen = new Set<number>();
    let cursor = '0';
    do {
      const [next, entries] = await this.redis.hscan(key, cursor, 'COUNT', 1000);
      cursor = next;
      for (let i = 0; i < entries.length; i += 2) {
        const seq = Number(entries[i]);
        if (seen.has(seq)) continue;
        seen.add(seq);
        await each(seq, JSON.parse(entries[i + 1]!));
      }
    } while (cursor !== '0');
    return seen.size;
  }

  /**
   * One page of a batch's recorded results, at most about `count`, never the whole hash at once.
   * `cursor` is '0' for the first page, then the `next` of the page before. Once the batch's
   * split is over (its total is known) pages go by seq, in order (HMGET of `count` seqs: dead
   * letters and results not in yet are left out, so a page may hold fewer); before, they follow
   * HSCAN (in no order, and a result may come twice while Redis resizes the hash). Undefined for
   * a batch the ledger does not know, or whose keys have expired.
   */
  async resultsPage(batch: string, cursor = '0', count = 1000): Promise<ResultsPage | undefined> {
    const k = this.keys.batch(batch);
    const [total] = await this.redis.hmget(k.meta, 'total');
    const exists = total !== null || (await this.redis.exists(k.meta)) === 1;
    if (!exists) return undefined;
    const scanning = cursor.startsWith('scan:');
    if (total !== null && !scanning) {
      const from = cursor === '0' ? 0 : Number(cursor);
      if (!Number.isSafeInteger(from) || from < 0) throw new TypeError(`"${cursor}" is not a results cursor`);
      const end = Math.min(Number(total), from + count);
      if (from >= end) return { results: [], next: null };
      const seqs = Array.from({ length: end - from }, (_, i) => from + i);
      const values = await this.redis.hmget(k.results, ...seqs.map(String));
      const results: ResultsPage['results'] = [];
      values.forEach((valueJson, i) => {
        if (valueJson !== null) results.push({ seq: seqs[i]!, valueJson });
      });
      return { results, next: end < Number(total) ? String(end) : null };
    }
    const position = scanning ? cursor.slice('scan:'.length) : cursor;
    if (!/^\d+$/.test(position)) throw new TypeError(`"${cursor}" is not a results cursor`);
    const [next, entries] = await this.redis.hscan(k.results, position, 'COUNT', count);
    const results: ResultsPage['results'] = [];
    for (let i = 0; i < entries.length; i += 2) results.push({ seq: Number(entries[i]), valueJson: entries[i + 1]! });
    return { results, next: next === '0' ? null : `scan:${next}` };
  }

  async listDead(batch: string, limit = 1000): Promise<DeadLetter[]> {
    const k = this.keys.batch(batch);
    const dead: DeadLetter[] = [];
    let cursor = '0';
    do {
      const [next, entries] = await this.redis.hscan(k.dead, cursor, 'COUNT', 500);
      cursor = next;
      const seqs = entries.filter((_, i) => i % 2 === 0);
      const errors = seqs.length > 0 ? await this.redis.hmget(k.errors, ...seqs) : [];
      for (let i = 0; i < entries.length; i += 2) {
        const entry = parseEntry(Number(entries[i]), entries[i + 1]!);
        const error = errors[i / 2];
        dead.push({
          batch,
          seq: entry.seq,
          attempts: entry.attempt,
          payload: JSON.parse(payloadText(entry.payloadJson)),
          error: error ? JSON.parse(error) : null,
        });
      }
    } while (cursor !== '0' && dead.length < limit);
    return dead.slice(0, limit).sort((a, b) => a.seq - b.seq);
  }

  /**
   * Sends dead letters round again (all of the batch's when `seqs` is empty); returns how many.
   * The batch joins its pipeline's active set (another hash slot than the script's keys) before
   * the script, so a crash after the script leaves no running batch out of it, and again after,
   * in case a complete of the batch took it out in between. When nothing moved, a done batch may
   * stay in the set until the sink's next complete of it takes it out.
   */
  async retryDead(batch: string, pipeline: string, seqs: number[] = []): Promise<number> {
    const k = this.keys.batch(batch);
    const active = this.keys.active(pipeline);
    await this.redis.sadd(active, batch);
    // Running again, the batch's keys lose their expiry (see retry-dead-10.lua) and it leaves the
    // batches due to expire (trimExpired would find it kept anyway).
    const moved = await this.redis.jobpipeRetryDead(...retryDeadKeys(k), ...seqs);
    if (moved > 0) {
      await this.redis.sadd(active, batch);
      await this.redis.zrem(this.keys.expiring, batch);
    }
    return moved;
  }

  /** Forgets dead letters (all of the batch's when `seqs` is empty); returns how many. */
  async purgeDead(batch: string, seqs: number[] = []): Promise<number> {
    const k = this.keys.batch(batch);
    return this.redis.jobpipePurgeDead(k.dead, k.errors, k.meta, ...seqs);
  }
}

/** Jobs with consecutive seqs, few enough for one call: they can share one pack lease. */
function isRun(jobs: LedgerJob[]): boolean {
  if (jobs.length === 0 || jobs.length > MAX_PER_CALL) return false;
  const first = jobs[0]!.seq;
  for (let i = 1; i < jobs.length; i++) if (jobs[i]!.seq !== first + i) return false;
  return true;
}

/**
 * A job's in-flight entry: `<attempt>|<payload JSON>`, as the scripts read it. A larger one goes
 * as bytes: with any Buffer among a command's arguments ioredis copies them into one buffer,
 * while with strings alone it joins the whole command into one string and encodes that again on
 * the socket (a 4 MB write-ahead at 10 KB a job: 75-83 against 26-33 µs a job).
 */
function entryOf(job: LedgerJob): string | Buffer {
  const prefix = `${job.attempt}|`;
  const payload = job.payloadJson;
  if (typeof payload === 'string' && payload.length < LARGE_PAYLOAD_CHARS) return prefix + payload;
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const entry = Buffer.allocUnsafe(prefix.length + bytes);
  const at = entry.write(prefix, 0, 'latin1');
  if (typeof payload === 'string') entry.write(payload, at);
  else payload.copy(entry, at);
  return entry;
}

/** An in-flight entry read back; a larger payload is held as bytes again (heldPayload). */
function parseEntry(seq: number, entry: string): LedgerJob {
  const bar = entry.indexOf('|');
  return { seq, attempt: Number(entry.slice(0, bar)), payloadJson: heldPayload(entry.slice(bar + 1)) };
}

/** A batch's meta hash read as BatchInfo; undefined for a batch not begun (no startedAt). */
function infoOf(batch: string, meta: Record<string, string>): BatchInfo | undefined {
  if (!meta.startedAt) return undefined;
  return {
    batch,
    pipeline: meta.pipeline ?? '',
    status: meta.status === 'done' ? 'done' : 'running',
    total: meta.total === undefined ? null : Number(meta.total),
    recorded: Number(meta.recorded ?? 0),
    dead: Number(meta.dead ?? 0),
    cancelled: Number(meta.cancelled ?? 0),
    cancelledAt: meta.cancelledAt === undefined ? null : Number(meta.cancelledAt),
    pastEnd: Number(meta.pastEnd ?? 0),
    startedAt: Number(meta.startedAt),
    finishedAt: meta.finishedAt === undefined ? null : Number(meta.finishedAt),
    summary: meta.summary ? (JSON.parse(meta.summary) as BatchSummary) : null,
  };
}
