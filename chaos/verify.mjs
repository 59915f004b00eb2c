/**
 * The verdict, read from Redis (the ledger) after the batch: never from the sink's summary alone,
 * which is what is under test.
 */

/** At most this many seqs are listed by name in a report. */
const SHOW = 20;

/**
 * Checks that every job 0..jobs-1 of the batch has exactly one recorded result.
 *
 * - `lost`: seqs with no field in the batch's results hash. It fails when a job left the ledger
 *   without a result (a write-ahead skipped, a lease that never expired or was never reaped, a
 *   resumed split that skipped a job nobody had dispatched) or when Redis lost an acknowledged
 *   write across its SIGKILL.
 * - `duplicates`: a results hash cannot hold a seq twice (HSET overwrites), so "recorded twice"
 *   is detected by counters that a second recording would bump again:
 *   - ledger: the batch meta's `recorded` counter (HINCRBY in record-7.lua for each result it
 *     records) against HLEN of the results. recorded > HLEN means the script recorded a seq that
 *     already had a result (its HEXISTS guard failed, or the write of the result was lost while
 *     the counter survived).
 *   - workers: the per-worker counts (HINCRBY in the same script, recorded + dead) against HLEN +
 *     dead letters: the same step seen through a second counter.
 *   - fold: the echo pipeline's answer {count, sum}, folded by the sink's `collect` once per
 *     recorded result and stored in Redis with the summary. count > HLEN means the sink folded some
 *     result twice (e.g. folded a duplicate, or folded a result both live and again when a
 *     restarted sink re-read the ledger); sum != the sum of the recorded values with count == HLEN
 *     means a result was folded twice and another not at all, or a wrong value was folded.
 *   `duplicates` is the largest of these (they are detectors of the same event, not separate
 *   events), and at least 1 when only the sum is off.
 * - `unfolded`: count < HLEN: results recorded but missing from the answer. Not a duplicate, but
 *   a wrong answer, so it fails the run too.
 * - `wrongValues`: a result whose value is not the one expected: `expected(seq)`, its seq by
 *   default (echo returns the payload's index `i`, which a batch's split sets to the seq; a single
 *   job's is what the harness gave it). A seq for which `expected` says undefined (a job of a
 *   bucket that no `add` call of the harness was answered with) is counted in `unclaimed`
 *   instead: such a job was added by nobody the harness knows, or added twice by one call.
 * - `dead`: fields of the dead-letter hash (and the meta's `dead` counter).
 * - `recordedAndDead`: seqs both in the results and the dead letters. The ledger then counts the
 *   job twice in recorded + dead, which is what decides that a batch is done, so the batch can end
 *   while another job has no result yet. Any such seq is a dead letter too, so it fails the run.
 *
 * `workers`: the ledger's count of each worker's results in the batch (the harness checks with
 * --pipelines 2 that no worker recorded a job of a pipeline it does not serve).
 *
 * `onValue(seq, value)` is called once for each distinct recorded seq in range (the harness uses
 * it to find one single job recorded in two buckets, or twice in one).
 */
export async function verifyBatch(redis, keys, jobs, { expected = (seq) => seq, onValue } = {}) {
  const [meta, hlen, deadLen, inflightLen, jobLeases, packLeases, workerCounts] = await Promise.all([
    redis.hgetall(keys.meta),
    redis.hlen(keys.results),
    redis.hlen(keys.dead),
    redis.hlen(keys.inflight),
    redis.zcard(keys.leases),
    redis.zcard(keys.packs),
    redis.hgetall(keys.workers),
  ]);
  const leasesLen = jobLeases + packLeases;

  // Every field of the results hash, streamed (HSCAN may return a field twice while the hash is
  // resized; the bitmap makes that harmless).
  const seen = new Uint8Array(jobs);
  let distinct = 0;
  let outOfRange = 0;
  let wrongValues = 0;
  let unclaimed = 0;
  let valueSum = 0;
  const wrongExamples = [];
  let cursor = '0';
  do {
    const [next, entries] = await redis.hscan(keys.results, cursor, 'COUNT', 5000);
    cursor = next;
    for (let i = 0; i < entries.length; i += 2) {
      const seq = Number(entries[i]);
      if (!Number.isInteger(seq) || seq < 0 || seq >= jobs) {
        outOfRange++;
        continue;
      }
      if (seen[seq]) continue;
      seen[seq] = 1;
      distinct++;
      let value;
      try {
        value = JSON.parse(entries[i + 1]);
      } catch {
        value = entries[i + 1];
      }
      if (typeof value === 'number') valueSum += value;
      onValue?.(seq, value);
      const want = expected(seq);
      if (want === undefined) unclaimed++;
      else if (value !== want) {
        wrongValues++;
        if (wrongExamples.length < SHOW) wrongExamples.push({ seq, value, expected: want });
      }
    }
  } while (cursor !== '0');
  const missing = [];
  for (let seq = 0; seq < jobs; seq++) if (!seen[seq]) missing.push(seq);
  // A seq both recorded and dead-lettered is counted twice in recorded + dead, which is what
  // decides that a batch is done: it can end a batch while another job still has no result.
  const recordedAndDead = [];
  cursor = '0';
  do {
    const [next, entries] = await redis.hscan(keys.dead, cursor, 'COUNT', 5000);
    cursor = next;
    for (let i = 0; i < entries.length; i += 2) {
      const seq = Number(entries[i]);
      if (seen[seq] && !recordedAndDead.includes(seq)) recordedAndDead.push(seq);
    }
  } while (cursor !== '0');

  const recorded = Number(meta.recorded ?? 0);
  const deadCounter = Number(meta.dead ?? 0);
  const workerTotal = Object.values(workerCounts).reduce((sum, count) => sum + Number(count), 0);
  let summary = null;
  try {
    summary = meta.summary ? JSON.parse(meta.summary) : null;
  } catch {
    summary = null;
  }
  const answer = summary?.answer ?? null;
  const foldCount = typeof answer?.count === 'number' ? answer.count : null;
  const foldSum = typeof answer?.sum === 'number' ? answer.sum : null;

  const ledgerDuplicates = Math.max(0, recorded - hlen);
  const workerDuplicates = Math.max(0, workerTotal - (hlen + deadLen));
  const foldDuplicates = foldCount === null ? 0 : Math.max(0, foldCount - hlen);
  const sumOff = foldSum !== null && foldSum !== valueSum;
  const duplicates = Math.max(ledgerDuplicates, workerDuplicates, foldDuplicates, sumOff ? 1 : 0);
  const unfolded = foldCount === null ? hlen : Math.max(0, hlen - foldCount);

  return {
    jobs,
    results: hlen,
    distinct,
    lost: missing.length,
    missing: missing.slice(0, SHOW),
    duplicates,
    detectors: {
      ledgerRecorded: recorded,
      workerCounted: workerTotal,
      foldCount,
      foldSum,
      expectedSum: valueSum,
      ledgerDuplicates,
      workerDuplicates,
      foldDuplicates,
      sumOff,
    },
    unfolded,
    wrongValues,
    wrongExamples,
    unclaimed,
    outOfRange,
    dead: Math.max(deadLen, deadCounter),
    recordedAndDead: recordedAndDead.slice(0, SHOW),
    deadLetters: deadLen,
    deadCounter,
    inflightLeft: inflightLen,
    leasesLeft: leasesLen,
    status: meta.status ?? null,
    total: meta.total === undefined ? null : Number(meta.total),
    summary,
    /** The ledger's per-worker counts (recorded + dead, by worker id): what the summary's perWorker is read from. */
    workers: Object.fromEntries(Object.entries(workerCounts).map(([worker, count]) => [worker, Number(count)])),
  };
}
