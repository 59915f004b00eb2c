import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { JobHistogram } from './job-histogram.js';

// Latency buckets from 0.5 ms to 60 s: jobs range from no-ops to minutes of CPU.
const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The metrics contract (README, "Watching it"), on one registry per process. Every role creates all of them
 * (an unused one just stays at zero), so the names live in this one place.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #samplers = new Map<string, () => void>();
  readonly jobsDispatched = this.#counter('jobpipe_jobs_dispatched_total', 'Jobs sent to workers, redeliveries included', ['pipeline']);
  readonly jobsRedelivered = this.#counter('jobpipe_jobs_redelivered_total', 'Jobs sent again after a lease expired or a worker died', ['pipeline']);
  readonly jobsInflight = this.#gauge('jobpipe_jobs_inflight', 'Jobs dispatched and not yet recorded by the sink', ['pipeline']);
  readonly jobsCompleted = this.#counter('jobpipe_jobs_completed_total', 'Results recorded as successful', ['pipeline', 'worker']);
  readonly jobsFailed = this.#counter('jobpipe_jobs_failed_total', 'Results recorded as failed (the handler threw or timed out)', ['pipeline', 'worker']);
  readonly jobsDeadLettered = this.#counter('jobpipe_jobs_dead_lettered_total', 'Jobs given up after maxAttempts', ['pipeline']);
  readonly duplicateResults = this.#counter('jobpipe_duplicate_results_total', 'Results dropped because the job was already recorded', ['pipeline']);
  readonly jobDuration = new JobHistogram('jobpipe_job_duration_seconds', 'Handler run time on the worker', ['pipeline'], SECONDS_BUCKETS, this.registry);
  readonly jobLatency = new JobHistogram(
    'jobpipe_job_latency_seconds',
    'Time from dispatch by the ventilator to the result recorded by the sink',
    ['pipeline'],
    SECONDS_BUCKETS,
    this.registry,
  );
  readonly workerJobsActive = this.#gauge('jobpipe_worker_jobs_active', 'Jobs a worker is running now (busy slots)', ['pipeline']);
  readonly workerSlots = this.#gauge('jobpipe_worker_slots', 'Jobs a worker can run at once (its concurrency)', ['pipeline']);
  readonly malformedMessages = this.#counter('jobpipe_malformed_messages_total', 'Messages dropped because they could not be decoded', ['role', 'reason']);
  readonly handshakesRefused = this.#counter(
    'jobpipe_handshakes_refused_total',
    "Handshakes a CURVE server refused, by reason: unknown_key (not on that socket's allow-list), wrong_mechanism (a peer in the clear), malformed",
    ['role', 'reason'],
  );
  readonly batchesCompleted = this.#counter('jobpipe_batches_completed_total', 'Batches whose every job has a recorded result', ['pipeline']);
  readonly batchesCancelled = this.#counter('jobpipe_batches_cancelled_total', 'Batches completed because they were cancelled (jobpipe cancel)', ['pipeline']);
  readonly jobsCancelled = this.#counter(
    'jobpipe_jobs_cancelled_total',
    'Jobs cancelled (jobpipe cancel), counted when their batch or bucket completes: never run or stopped, not recorded',
    ['pipeline'],
  );
  readonly workersConnected = this.#gauge('jobpipe_workers_connected', 'Workers that sent a heartbeat recently', ['pipeline']);
  readonly batchesOpen = this.#gauge('jobpipe_batches_open', 'Batches the sink is recording that are not done', ['pipeline']);
  readonly batchJobsDone = this.#gauge('jobpipe_batch_jobs_done', 'Jobs of open batches with a result or dead-lettered', ['pipeline']);
  readonly batchJobsExpected = this.#gauge('jobpipe_batch_jobs_expected', 'Jobs of open batches whose split is done', ['pipeline']);
  readonly batchJobsSplit = this.#gauge('jobpipe_batch_jobs_split', 'Jobs the ventilator has split so far from the batches it runs', ['pipeline']);
  readonly batchesRunning = this.#gauge(
    'jobpipe_batches_running',
    'Batches and buckets of single jobs a ventilator runs now (JOBPIPE_MAX_OPEN_BATCHES at most)',
    ['pipeline'],
  );
  readonly jobsWaiting = this.#gauge(
    'jobpipe_jobs_waiting',
    'Jobs a ventilator holds ready to send and has not sent (split, added or due again); the work that waits for workers',
    ['pipeline'],
  );
  readonly payloadBytesHeld = this.#gauge(
    'jobpipe_payload_bytes_held',
    "Payload bytes a role holds now: a ventilator's jobs queued, being written ahead and (persistence off) in flight, bounded by JOBPIPE_MAX_IN_FLIGHT_BYTES; a worker's Jobs messages on hand, bounded by JOBPIPE_CREDIT_BYTES",
    ['pipeline'],
  );
  readonly freshJobsWaiting = this.#gauge(
    'jobpipe_fresh_jobs_waiting',
    'Fresh jobs (split or added, not due again) a ventilator holds ready, by priority ("none": without one); a series only while jobs of that priority wait',
    ['pipeline', 'priority'],
  );
  readonly streamJobsWaiting = this.#gauge(
    'jobpipe_stream_jobs_waiting',
    "Single jobs on the pipeline's job stream that no ventilator has written ahead yet (every ventilator reports the same: read it with max)",
    ['pipeline'],
  );
  readonly oldestWaitingSeconds = this.#gauge(
    'jobpipe_oldest_waiting_seconds',
    "Age of the oldest single job on the pipeline's job stream, 0 when none waits (every ventilator reports the same: read it with max)",
    ['pipeline'],
  );
  readonly batchesQueued = this.#gauge(
    'jobpipe_batches_queued',
    'Batches submitted and not yet taken by a ventilator (every ventilator reports the same: read it with max)',
    ['pipeline'],
  );
  readonly pipelinePaused = this.#gauge('jobpipe_pipeline_paused', '1 while the pipeline is paused (jobpipe pause), else 0', ['pipeline']);
  readonly rateLimit = this.#gauge('jobpipe_rate_limit', 'Jobs per second the pipeline is limited to, 0 for none', ['pipeline']);
  readonly ledgerRepairs = this.#counter(
    'jobpipe_ledger_repairs_total',
    'Repairs of what Redis lost after acknowledging it: kind="jobs" (a batch\'s jobs neither in flight, recorded nor dead, sent again), "batch" (a batch begun again), "refold" (the sink folded a batch again from the ledger)',
    ['pipeline', 'kind'],
  );
  readonly redisWentBack = this.#counter(
    'jobpipe_redis_went_back_total',
    'Times this process found Redis behind what it had seen (the ledger clock, LedgerClock): Redis lost writes it had acknowledged',
    ['role'],
  );
  readonly creditRefused = this.#counter(
    'jobpipe_credit_refused_total',
    'Worker credit the ventilator could not use: reason="v1_many_pipelines" (a protocol version 1 Credit, which names no pipeline, to a ventilator serving several), "unknown_pipeline" (credit for a pipeline this ventilator does not serve)',
    ['reason'],
  );
  readonly rateLimitWaits = this.#counter(
    'jobpipe_rate_limit_waits_total',
    'Times a ventilator had jobs and a worker for them but waited for rate-limit tokens',
    ['pipeline'],
  );

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  #counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /**
   * Creates the series a role reports at zero, so dashboards and alerts see 0 rather than no data
   * before the first event (a counter with labels has no series until it is first touched).
   */
  initialize(role: 'ventilator' | 'worker' | 'sink' | 'console', pipelines: string | readonly string[], reasons: readonly string[]): void {
    for (const reason of reasons) this.malformedMessages.inc({ role, reason }, 0);
    if (role !== 'worker') this.redisWentBack.inc({ role }, 0);
    // The servers: every refusal reason at 0, so a first plaintext probe shows as a rise.
    if (role === 'ventilator' || role === 'sink')
      for (const reason of ['unknown_key', 'wrong_mechanism', 'malformed']) this.handshakesRefused.inc({ role, reason }, 0);
    if (role === 'ventilator') for (const reason of ['v1_many_pipelines', 'unknown_pipeline']) this.creditRefused.inc({ reason }, 0);
    for (const pipeline of typeof pipelines === 'string' ? [pipelines] : pipelines) {
      const labels = { pipeline };
      if (role === 'ventilator') {
        for (const counter of [this.jobsDispatched, this.jobsRedelivered, this.jobsDeadLettered, this.rateLimitWaits]) counter.inc(labels, 0);
        for (const kind of ['jobs', 'batch']) this.ledgerRepairs.inc({ ...labels, kind }, 0);
      }
      if (role === 'sink') {
        this.ledgerRepairs.inc({ ...labels, kind: 'refold' }, 0);
        for (const counter of [this.duplicateResults, this.jobsDeadLettered, this.batchesCompleted, this.batchesCancelled, this.jobsCancelled])
          counter.inc(labels, 0);
      }
    }
  }

  /**
   * Makes `gauge` read its value from `read` when scraped instead of being set on every change:
   * a gauge set per job measured as a visible cost at 100k jobs/s.
   */
  sampleGauge<L extends string>(gauge: Gauge<L>, labels: Partial<Record<L, string>>, read: () => number): void {
    const child = gauge.labels(labels);
    const name = (gauge as unknown as { name: string }).name;
    const previous = this.#samplers.get(name);
    this.#samplers.set(name, () => {
      previous?.();
      child.set(read());
    });
  }

  /**
   * As sampleGauge, for a gauge whose series come and go: at each scrape it holds exactly the
   * series `read` gives (one that is gone is dropped, not left at its last value).
   */
  sampleGaugeSeries<L extends string>(gauge: Gauge<L>, read: () => Iterable<[Partial<Record<L, string>>, number]>): void {
    const name = (gauge as unknown as { name: string }).name;
    this.#samplers.set(name, () => {
      gauge.reset();
      for (const [labels, value] of read()) gauge.set(labels, value);
    });
  }

  #gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    const samplers = this.#samplers;
    return new Gauge({ name, help, labelNames, registers: [this.registry], collect: () => samplers.get(name)?.() });
  }
}
