/**
 * A batch claimed by a ventilator that stopped (README, Guarantees 6): the next ventilator's
 * intake says once what it waits for and until about when, and resumes the batch soon after the
 * claim's lock lapses (BullMQ's stalled check runs every sixth of the lock, not every 30 s). A
 * batch that a live ventilator runs is not said to wait for a stopped one. A batch whose intake job
 * Redis lost while it ran is queued again and completed with its summary. The intakes run in
 * this process, on a redis-server of the test's own; a forced close stands for the crash (the
 * claim stays in Redis, no longer renewed, as after SIGKILL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisServer } from '@jobpipe/launcher';
import { connectRedis } from '@jobpipe/ledger';
import { intakeQueueName, intakeTimings, startIntake, type Intake, type IntakeLogger } from '@jobpipe/intake';
import type { BatchSummary } from '@jobpipe/protocol';
import { sleep, waitFor } from './helpers.js';
import { startRedis, stopRedis, uniquePrefix } from './durable-helpers.js';

let server: RedisServer | undefined;
let redis: Redis;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url);
});
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  redis?.disconnect();
  await stopRedis(server);
});

const PIPELINE = 'claims';
const LOCK_MS = 4000;

/** Log lines a logger got. */
class Lines implements IntakeLogger {
  readonly lines: { fields: Record<string, unknown>; message: string; at: number }[] = [];
  info(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ fields, message, at: Date.now() });
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.info(fields, message);
  }
  about(batch: string): Lines['lines'] {
    return this.lines.filter((line) => line.fields.batch === batch);
  }
}

function summary(batch: string): BatchSummary {
  return { batch, pipeline: PIPELINE, jobs: 0, failed: 0, duplicates: 0, wallSeconds: 0, jobsPerSecond: 0, perWorker: {}, answer: null };
}

/** A ventilator's intake; `hold` keeps every batch it takes running until the test ends. */
function intake(prefix: string, logger: Lines, started: { batch: string; at: number }[], hold: boolean): Intake {
  const intake = startIntake({
    redis,
    prefix,
    pipeline: PIPELINE,
    lockMs: LOCK_MS,
    runBatch: async (_input, batch) => {
      started.push({ batch, at: Date.now() });
      if (hold) await new Promise(() => {});
      return summary(batch);
    },
    onError: () => {},
    logger,
  });
  closers.push(() => intake.close());
  return intake;
}

async function submit(prefix: string, batch: string): Promise<void> {
  const queue = new Queue(intakeQueueName(PIPELINE), { connection: redis.duplicate(), prefix });
  closers.push(() => queue.close());
  await queue.add('batch', { pipeline: PIPELINE, input: {}, submittedAt: Date.now() }, { jobId: batch });
}

describe('intake: a batch claimed by another ventilator', () => {
  const timings = intakeTimings(LOCK_MS);

  it('claimed by a stopped ventilator: the next one says what it waits for and when, and resumes the batch soon after the lock lapses', async () => {
    const prefix = uniquePrefix('claims');
    const batch = 'orphan';
    const firstStarted: { batch: string; at: number }[] = [];
    const first = intake(prefix, new Lines(), firstStarted, true);
    await submit(prefix, batch);
    await waitFor('the first ventilator to take the batch', () => firstStarted.length > 0, 15_000);
    // It renews its claim a few times, then stops as a SIGKILL would stop it.
    await sleep(LOCK_MS);
    await first.close();
    const lockKey = `${prefix}:${intakeQueueName(PIPELINE)}:${batch}:lock`;
    const leftAtStop = await redis.pttl(lockKey);
    const lapsesAt = Date.now() + leftAtStop;
    expect(leftAtStop, 'the stopped ventilator still holds the claim').toBeGreaterThan(0);

    const lines = new Lines();
    const started: { batch: string; at: number }[] = [];
    intake(prefix, lines, started, false);
    await waitFor('the batch to be resumed', () => started.length > 0, LOCK_MS + 15_000);
    // Not before the lock lapsed, and within a stalled check (plus scheduling slack) after.
    expect(started[0]!.at).toBeGreaterThanOrEqual(lapsesAt - 50);
    expect(started[0]!.at - lapsesAt).toBeLessThan(timings.stalledCheckMs + 1000);

    // Said before it resumed: once that the batch is claimed (at start), once that its ventilator
    // stopped, with the lock's lapse and the resume time about right.
    const said = lines.about(batch).filter((line) => line.at <= started[0]!.at);
    const stopped = said.filter((line) => line.message === 'batch claimed by a stopped ventilator; resuming it when its intake lock lapses');
    expect(stopped, JSON.stringify(lines.lines)).toHaveLength(1);
    const { fields, at } = stopped[0]!;
    expect(Math.abs(at + (fields.lockLapsesInMs as number) - lapsesAt)).toBeLessThan(500);
    const resumesBy = Date.parse(fields.resumesBy as string);
    expect(resumesBy).toBeGreaterThanOrEqual(started[0]!.at - 500);
    expect(resumesBy - lapsesAt).toBeLessThanOrEqual(timings.stalledCheckMs + 500);
    expect(said.length).toBeLessThanOrEqual(2);
    if (said.length === 2) expect(said[0]!.message).toMatch(/^batch claimed by another ventilator; if that one has stopped/);
  });

  it('a ventilator that stops gracefully hands its batch back: the next one resumes it at once, not when the lock would lapse', async () => {
    const prefix = uniquePrefix('claims');
    const batch = 'handed-back';
    const firstStarted: { batch: string; at: number }[] = [];
    const first = intake(prefix, new Lines(), firstStarted, true);
    await submit(prefix, batch);
    await waitFor('the first ventilator to take the batch', () => firstStarted.length > 0, 15_000);
    const started: { batch: string; at: number }[] = [];
    intake(prefix, new Lines(), started, false);
    await sleep(500);
    expect(started, 'a live claim is left alone').toEqual([]);

    const stoppedAt = Date.now();
    expect(await first.handBack()).toEqual([batch]);
    await waitFor('the batch to be resumed', () => started.length > 0, LOCK_MS);
    // Well within the lock it held (4 s), which a crash would have made it wait out.
    expect(started[0]!.at - stoppedAt).toBeLessThan(LOCK_MS / 2);
    expect(started.map((run) => run.batch)).toEqual([batch]);
    expect(firstStarted, 'the stopped one took nothing more').toHaveLength(1);
    const queue = new Queue(intakeQueueName(PIPELINE), { connection: redis.duplicate(), prefix });
    closers.push(() => queue.close());
    await waitFor('the batch completed by the second', async () => (await queue.getJobState(batch)) === 'completed', 10_000);
  });

  it('claimed by a live ventilator: no word of a stopped one, and the batch stays where it is', async () => {
    const prefix = uniquePrefix('claims');
    const batch = 'busy';
    const firstStarted: { batch: string; at: number }[] = [];
    intake(prefix, new Lines(), firstStarted, true);
    await submit(prefix, batch);
    await waitFor('the first ventilator to take the batch', () => firstStarted.length > 0, 15_000);

    const lines = new Lines();
    const started: { batch: string; at: number }[] = [];
    intake(prefix, lines, started, false);
    // Three lock durations: a claim no longer renewed would have lapsed and moved long before.
    await sleep(3 * LOCK_MS);
    expect(started).toEqual([]);
    expect(firstStarted).toHaveLength(1);
    expect(lines.about(batch).map((line) => line.message)).toEqual([
      'batch claimed by another ventilator; if that one has stopped, this one resumes the batch when its intake lock lapses',
    ]);
  });

  it('an intake job Redis lost while its batch ran is queued again at the end and completed with the summary', async () => {
    const prefix = uniquePrefix('claims');
    const batch = 'lost-job';
    const runs: { batch: string; at: number }[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const lines = new Lines();
    const taker = startIntake({
      redis,
      prefix,
      pipeline: PIPELINE,
      lockMs: LOCK_MS,
      // The first run holds until released; a later one finds the batch done, as the ledger would.
      runBatch: async (_input, id) => {
        runs.push({ batch: id, at: Date.now() });
        if (runs.length === 1) await released;
        return summary(id);
      },
      onError: () => {},
      logger: lines,
    });
    closers.push(() => taker.close());
    const queue = new Queue(intakeQueueName(PIPELINE), { connection: redis.duplicate(), prefix });
    closers.push(() => queue.close());
    await queue.add('batch', { pipeline: PIPELINE, input: { n: 1 }, submittedAt: Date.now() }, { jobId: batch, priority: 3 });
    await waitFor('the batch to be taken', () => runs.length > 0, 15_000);
    // What a restore from an older snapshot leaves: none of the job's keys, in no list.
    const jobKey = `${prefix}:${intakeQueueName(PIPELINE)}:${batch}`;
    await redis.del(jobKey, `${jobKey}:lock`);
    await redis.lrem(`${prefix}:${intakeQueueName(PIPELINE)}:active`, 0, batch);
    expect(await queue.getJob(batch)).toBeUndefined();
    release();

    await waitFor('the batch completed', async () => (await queue.getJobState(batch)) === 'completed', 15_000);
    const job = await queue.getJob(batch);
    expect(job?.returnvalue).toEqual(summary(batch));
    expect(job?.data.input, 'queued again with what it was submitted with').toEqual({ n: 1 });
    expect(job?.opts.priority).toBe(3);
    expect(runs.map((run) => run.batch)).toEqual([batch, batch]);
    expect(lines.about(batch).map((line) => line.message)).toContain(
      "Redis lost the batch's intake job while it ran: queued again, to be completed with its summary",
    );
  });
});
