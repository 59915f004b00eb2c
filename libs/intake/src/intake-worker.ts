import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { duplicateClient, type RedisClient } from '@jobpipe/ledger';
import type { BatchSummary } from '@jobpipe/protocol';
import { intakeQueueName, LOWEST_PRIORITY, priorityProblem, type BatchRequest } from './queue-name.js';

/** What the intake logs with (a pino logger fits). */
export interface IntakeLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface IntakeOptions {
  /** A client of one server or of a Redis Cluster; the worker uses a duplicate of it. */
  redis: RedisClient;
  /** BullMQ's prefix: the ledger's (JOBPIPE_REDIS_PREFIX); the queue name carries the hash tag. */
  prefix: string;
  pipeline: string;
  /**
   * How long a batch stays claimed by a ventilator that stopped renewing its lock (it crashed)
   * before another ventilator takes it over and resumes it, in ms.
   */
  lockMs: number;
  /** Runs one batch to its end: the ventilator's `runBatch`, with the priority it was submitted with. */
  runBatch: (input: unknown, batchId: string, options: { priority?: number; traceparent?: string; tracestate?: string }) => Promise<BatchSummary>;
  /** Batches run at once (BullMQ's concurrency): the ventilator's JOBPIPE_MAX_OPEN_BATCHES. @default 1 */
  concurrency?: number;
  onError: (error: Error) => void;
  /**
   * Where to say which batch waits for another ventilator's lock, and until when.
   * @default nothing is logged
   */
  logger?: IntakeLogger;
}

/** How the intake's BullMQ worker keeps and checks locks, from JOBPIPE_INTAKE_LOCK_MS. */
export interface IntakeTimings {
  /** BullMQ's lockDuration: a claim lapses this long after its last renewal. */
  lockMs: number;
  /** BullMQ renews a live claim about every half of this (its lockRenewTime, lockMs / 2). */
  renewMs: number;
  /**
   * BullMQ's stalledInterval: how often a lapsed claim is looked for. The batch goes back to the
   * queue at the first check after its lock lapsed, so at most this long after. BullMQ's default
   * is 30 s whatever the lock, which made a 30 s lock hold a dead ventilator's batch for up to a
   * minute; a sixth of the lock (at most 5 s) keeps the resume close to the lapse.
   */
  stalledCheckMs: number;
  /** A claim with less time left than this missed a renewal: its ventilator has stopped. */
  staleBelowMs: number;
}

export function intakeTimings(lockMs: number): IntakeTimings {
  const renewMs = lockMs / 2;
  // A live holder renews when about half the lock is left; the margin allows for a late timer.
  const margin = Math.max(lockMs / 10, Math.min(1000, lockMs / 4));
  return {
    lockMs,
    renewMs,
    stalledCheckMs: Math.max(100, Math.min(5000, Math.floor(lockMs / 6))),
    staleBelowMs: renewMs - margin,
  };
}

/** How long a graceful stop tries to hand its batches back (Redis may be away then). */
const HAND_BACK_MS = 2000;

/** The intake of one pipeline: BullMQ's worker, and a way to hand its batches back at a graceful stop. */
export interface Intake {
  readonly worker: Worker;
  /**
   * A graceful stop: takes no more batches, puts the ones it runs back in the queue at once (their
   * claims released), and closes. The next ventilator resumes them without waiting for their
   * intake locks to lapse. Resolves with the batches handed back.
   */
  handBack(): Promise<string[]>;
  /** Stops at once, leaving claims as they are (they lapse as after a crash). */
  close(): Promise<void>;
}

/**
 * Takes batches from the pipeline's BullMQ queue, up to `concurrency` at once, and runs them; the BullMQ job
 * completes with the batch summary. A ventilator that crashes mid-batch leaves its BullMQ job
 * locked; once the lock lapses (at most `lockMs` after the crash), BullMQ's stalled check, run
 * every `stalledCheckMs`, gives it to the next free ventilator, which resumes it. One that stops
 * gracefully hands its batches back (`handBack`). Meanwhile the logger hears, once per batch,
 * what this ventilator waits for and until about when.
 */
export function startIntake(options: IntakeOptions): Intake {
  const timings = intakeTimings(options.lockMs);
  let running = 0;
  /** The batches it runs, with the token of its claim on each. */
  const claims = new Map<string, { job: Job; token: string }>();
  let handingBack = false;
  let handedBack!: () => void;
  const handBackNow = new Promise<never>((_, reject) => (handedBack = () => reject(new WaitingError())));
  // Settled only at a graceful stop, and then seen by every batch's race.
  handBackNow.catch(() => {});
  // BullMQ takes a connection it is given as shared: it never closes it, and drops its own error
  // listener at close, after which a Redis that is away had ioredis print each retry. Quiet here:
  // while the worker runs, its errors reach onError through BullMQ, and Redis going away is the
  // role's to report.
  const connection = duplicateClient(options.redis);
  connection.on('error', () => {});
  const worker = new Worker(
    intakeQueueName(options.pipeline),
    async (job: Job, token?: string) => {
      if (handingBack) {
        // Taken while it stops: straight back.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      running++;
      claims.set(job.id!, { job, token: token! });
      try {
        // The priority asked for is in the request (LOWEST_PRIORITY too); a batch queued before it
        // was, or by a client that wrote no valid one, has only BullMQ's: 0, or LOWEST_PRIORITY for
        // one submitted without any.
        const request = job.data as BatchRequest;
        const { input, traceparent, tracestate } = request;
        const asked = priorityProblem(request.priority) === undefined ? request.priority : undefined;
        const priority = asked ?? (job.opts.priority && job.opts.priority < LOWEST_PRIORITY ? job.opts.priority : undefined);
        // Handed back: the batch goes on in Redis; the WaitingError tells BullMQ the job moved.
        const summary = await Promise.race([options.runBatch(input, job.id!, { priority, traceparent, tracestate }), handBackNow]);
        await queueAgainIfLost(job, worker, options).catch(options.onError);
        return summary;
      } finally {
        running--;
        claims.delete(job.id!);
      }
    },
    {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency ?? 1,
      lockDuration: timings.lockMs,
      lockRenewTime: timings.renewMs,
      stalledInterval: timings.stalledCheckMs,
      // A batch resumes where it left off, so taking it over again is always safe.
      maxStalledCount: 1_000_000,
    },
  );
  worker.on('error', options.onError);
  if (options.logger) watchClaims(worker, options.redis, options.logger, timings, () => running >= (options.concurrency ?? 1));
  return {
    worker,
    async handBack() {
      handingBack = true;
      await worker.pause(true);
      const handed: string[] = [];
      const handing = (async () => {
        for (const [batch, { job, token }] of claims) {
          try {
            await job.moveToWait(token);
            handed.push(batch);
          } catch {
            // The claim is gone already (it lapsed, or was taken over): its new holder has the batch.
          }
        }
      })();
      // Redis away at the stop must not hold the stop up: what is not handed back by then lapses.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([handing, new Promise<void>((resolve) => (timer = setTimeout(resolve, HAND_BACK_MS)))]);
      clearTimeout(timer);
      handedBack();
      // The connection stays open: what BullMQ still does with the claims after a forced close
      // needs it, and the process ends with the stop.
      await worker.close(true);
      return [...handed];
    },
    async close() {
      await worker.close(true);
      connection.disconnect();
    },
  };
}

/**
 * Redis lost the batch's intake job while the batch ran (a failover to a replica that lagged, a
 * restart from an older snapshot): the batch went on from this ventilator's memory and the
 * ledger's repair, but nothing would complete the job, and the lists would never show the batch.
 * Queued again under its id, it is taken by a ventilator that finds the batch done in the ledger
 * and completes it with its summary at once.
 */
async function queueAgainIfLost(job: Job, worker: Worker, options: IntakeOptions): Promise<void> {
  if ((await options.redis.exists(worker.toKey(job.id!))) === 1) return;
  const queue = new Queue(intakeQueueName(options.pipeline), { connection: options.redis, prefix: options.prefix });
  try {
    // An add under an id that exists meanwhile (the submitter made it again) changes nothing.
    await queue.add(job.name, job.data, { ...job.opts, jobId: job.id! });
  } finally {
    await queue.close();
  }
  options.logger?.warn({ batch: job.id }, "Redis lost the batch's intake job while it ran: queued again, to be completed with its summary");
}

type Stage = 'claimed' | 'stopped';

/**
 * Looks at the queue's claimed batches (BullMQ's active list) now and every stalled-check
 * interval, and says once per batch and claim: at start, that a batch is claimed by another
 * ventilator and when it would come here if that one has stopped; and when a claim is no longer
 * renewed (its ventilator has stopped), that the batch waits for the lock to lapse, and when.
 * A live ventilator renews its claim when about half the lock is left, so a claim with clearly
 * less left at two looks in a row has missed its renewal. (Every ventilator of a pipeline should use the same
 * JOBPIPE_INTAKE_LOCK_MS; a shorter one elsewhere could look stopped here.)
 */
function watchClaims(worker: Worker, redis: RedisClient, logger: IntakeLogger, timings: IntakeTimings, busy: () => boolean): void {
  const said = new Map<string, { token: string; stage: Stage }>();
  /** Claims seen low on time at the last look, by batch: their tokens. */
  const lowClaims = new Map<string, string>();
  const ours = `${worker.id}:`;
  let first = true;
  let looking = false;
  const look = async () => {
    if (looking) return;
    looking = true;
    try {
      const ids = await redis.lrange(worker.toKey('active'), 0, -1);
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.get(`${worker.toKey(id)}:lock`).pttl(`${worker.toKey(id)}:lock`);
      const replies = ids.length > 0 ? ((await pipeline.exec()) ?? []) : [];
      const now = Date.now();
      for (const [i, batch] of ids.entries()) {
        const before = said.get(batch);
        // No lock (it lapsed): still the claim seen before, if one was.
        const token = (replies[2 * i]?.[1] as string | null | undefined) ?? before?.token ?? '';
        const leftMs = Number(replies[2 * i + 1]?.[1] ?? -2);
        if (token.startsWith(ours)) continue;
        // -2: no lock, so its holder is gone and the next stalled check hands the batch on. A
        // claim low on time is taken for stopped only when the next look finds it no higher: one
        // low reading was a live holder whose renewal ran late on a busy machine.
        const low = leftMs < timings.staleBelowMs;
        const lowBefore = lowClaims.get(batch) === token;
        if (low) lowClaims.set(batch, token);
        else lowClaims.delete(batch);
        const stopped = leftMs < 0 || (low && lowBefore);
        const stage: Stage | undefined = stopped ? 'stopped' : first ? 'claimed' : undefined;
        if (!stage || (before?.token === token && (before.stage === stage || before.stage === 'stopped'))) continue;
        said.set(batch, { token, stage });
        const lapsesInMs = Math.max(0, leftMs);
        const resumesBy = new Date(now + lapsesInMs + timings.stalledCheckMs).toISOString();
        const fields = { batch, lockLapsesInMs: lapsesInMs, resumesBy, intakeLockMs: timings.lockMs };
        if (stage === 'claimed') {
          logger.info(
            fields,
            busy()
              ? 'batch claimed by another ventilator; if that one has stopped, the batch returns to the queue when its intake lock lapses'
              : 'batch claimed by another ventilator; if that one has stopped, this one resumes the batch when its intake lock lapses',
          );
        } else {
          logger.info(
            { ...fields, busy: busy() },
            busy()
              ? 'batch claimed by a stopped ventilator; it returns to the queue when its intake lock lapses (this ventilator runs as many batches as it may)'
              : 'batch claimed by a stopped ventilator; resuming it when its intake lock lapses',
          );
        }
      }
      for (const batch of said.keys()) if (!ids.includes(batch)) said.delete(batch);
      for (const batch of lowClaims.keys()) if (!ids.includes(batch)) lowClaims.delete(batch);
      first = false;
    } catch {
      // Redis away: the role's own connection reports it; look again next time.
    } finally {
      looking = false;
    }
  };
  void look();
  const timer = setInterval(() => void look(), Math.max(250, timings.stalledCheckMs));
  timer.unref();
  worker.on('closing', () => clearInterval(timer));
}
