// The jobpipe dashboard as data: every panel with its PromQL. build-dashboard.mjs turns it into
// Grafana JSON; test/integration/observability.test.ts runs every expression against a real Prometheus.
// `$pipeline` is the dashboard's pipeline variable (multi-value, All included: one ventilator and one
// sink serve several pipelines); every per-pipeline query is filtered by it. `$__rate_interval` is
// Grafana's rate window. A row with `repeat: 'pipeline'` is drawn once per pipeline chosen, its
// queries then each on that one pipeline.
const P = 'pipeline=~"$pipeline"';

export const rows = [
  {
    title: 'Throughput and latency',
    panels: [
      {
        title: 'Throughput in and out (jobs/s)',
        unit: 'ops',
        targets: [
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_dispatched_total{${P}}[$__rate_interval]))`, legend: 'dispatched {{pipeline}}' },
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_completed_total{${P}}[$__rate_interval]))`, legend: 'completed {{pipeline}}' },
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_failed_total{${P}}[$__rate_interval]))`, legend: 'failed {{pipeline}}' },
        ],
      },
      {
        title: 'End-to-end latency, dispatch to recorded',
        unit: 's',
        targets: [0.5, 0.95, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (le) (rate(jobpipe_job_latency_seconds_bucket{${P}}[$__rate_interval])))`,
          legend: `p${q * 100}`,
        })),
      },
      {
        title: 'Handler duration',
        unit: 's',
        targets: [0.5, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (le) (rate(jobpipe_job_duration_seconds_bucket{${P}}[$__rate_interval])))`,
          legend: `p${q * 100}`,
        })),
      },
      { title: 'Jobs in flight', unit: 'short', targets: [{ expr: `sum by (pipeline) (jobpipe_jobs_inflight{${P}})`, legend: '{{pipeline}}' }] },
    ],
  },
  {
    title: 'Workers and load balance',
    panels: [
      {
        title: 'Per-worker throughput (jobs/s)',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (worker) (rate(jobpipe_jobs_completed_total{${P}}[$__rate_interval]) + rate(jobpipe_jobs_failed_total{${P}}[$__rate_interval]))`,
            legend: '{{worker}}',
          },
        ],
      },
      {
        title: 'Busy slots per worker',
        unit: 'short',
        targets: [
          // Workers' own gauges carry no worker label: their target (instance) and pool name them.
          { expr: `sum by (pool, instance) (jobpipe_worker_jobs_active{${P}})`, legend: 'busy {{pool}} {{instance}}' },
          { expr: `sum by (pool, instance) (jobpipe_worker_slots{${P}})`, legend: 'slots {{pool}} {{instance}}' },
        ],
      },
      {
        title: 'Load balance (Jain index: 1 = even)',
        unit: 'percentunit',
        type: 'stat',
        targets: [{ expr: `jobpipe:worker_fairness:jain1m{${P}}`, legend: '{{pipeline}}' }],
      },
      {
        title: 'Workers connected',
        unit: 'short',
        type: 'stat',
        targets: [{ expr: `sum by (pipeline) (jobpipe_workers_connected{${P}})`, legend: '{{pipeline}}' }],
      },
    ],
  },
  // One row per pipeline chosen (repeated by Grafana): how fast it goes, what waits for its
  // workers, and how its work spreads over the workers (of every pool) that serve it.
  {
    title: 'Pipeline $pipeline',
    repeat: 'pipeline',
    panels: [
      {
        title: 'Throughput of $pipeline (jobs/s)',
        unit: 'ops',
        targets: [
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_dispatched_total{${P}}[$__rate_interval]))`, legend: 'dispatched' },
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_completed_total{${P}}[$__rate_interval]))`, legend: 'completed' },
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_failed_total{${P}}[$__rate_interval]))`, legend: 'failed' },
        ],
      },
      {
        title: 'Waiting work of $pipeline',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (jobpipe_jobs_waiting{${P}})`, legend: 'jobs held by ventilators' },
          { expr: `max by (pipeline) (jobpipe_stream_jobs_waiting{${P}})`, legend: 'single jobs on the stream' },
          { expr: `max by (pipeline) (jobpipe_batches_queued{${P}})`, legend: 'batches queued' },
          { expr: `jobpipe:work_waiting{${P}}`, legend: 'all not done, in flight too' },
        ],
      },
      {
        title: 'Per-worker throughput on $pipeline (jobs/s)',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (worker) (rate(jobpipe_jobs_completed_total{${P}}[$__rate_interval]) + rate(jobpipe_jobs_failed_total{${P}}[$__rate_interval]))`,
            legend: '{{worker}}',
          },
        ],
      },
      {
        title: 'Busy slots per worker on $pipeline',
        unit: 'short',
        targets: [{ expr: `sum by (pool, instance) (jobpipe_worker_jobs_active{${P}})`, legend: '{{pool}} {{instance}}' }],
      },
      {
        title: 'Workers serving $pipeline: connected and wanted',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (jobpipe_workers_connected{${P}})`, legend: 'connected' },
          { expr: `jobpipe:work_waiting{${P}} / on (pipeline) avg by (pipeline) (jobpipe_worker_slots{${P}})`, legend: 'wanted (work / slots)' },
        ],
      },
    ],
  },
  {
    title: 'Batches and faults',
    panels: [
      // While a big batch is still being split its total is unknown: progress is then of the jobs split so far.
      {
        title: 'Batch progress (of the jobs known)',
        unit: 'percentunit',
        type: 'gauge',
        targets: [{ expr: `jobpipe:batch_progress:ratio{${P}}`, legend: '{{pipeline}}' }],
      },
      {
        title: 'Batch jobs: done, split, expected',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (jobpipe_batch_jobs_done{${P}})`, legend: 'done' },
          { expr: `sum by (pipeline) (jobpipe_batch_jobs_split{${P}})`, legend: 'split so far' },
          { expr: `sum by (pipeline) (jobpipe_batch_jobs_expected{${P}})`, legend: 'expected' },
        ],
      },
      {
        title: 'Batches completed',
        unit: 'short',
        type: 'stat',
        targets: [{ expr: `sum by (pipeline) (jobpipe_batches_completed_total{${P}})`, legend: '{{pipeline}}' }],
      },
      {
        title: 'Redeliveries, dead letters, duplicates and ledger repairs (per 5 min)',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (increase(jobpipe_jobs_redelivered_total{${P}}[5m]))`, legend: 'redelivered' },
          { expr: `sum by (pipeline) (increase(jobpipe_jobs_dead_lettered_total{${P}}[5m]))`, legend: 'dead letters' },
          { expr: `sum by (pipeline) (increase(jobpipe_duplicate_results_total{${P}}[5m]))`, legend: 'duplicates dropped' },
          { expr: `sum by (pipeline, kind) (increase(jobpipe_ledger_repairs_total{${P}}[5m]))`, legend: 'ledger repairs ({{kind}})' },
          { expr: 'sum by (role) (increase(jobpipe_redis_went_back_total[5m]))', legend: 'Redis went back ({{role}})' },
        ],
      },
      {
        title: 'Malformed messages dropped (per 5 min)',
        unit: 'short',
        targets: [{ expr: 'sum by (role, reason) (increase(jobpipe_malformed_messages_total[5m]))', legend: '{{role}} {{reason}}' }],
      },
      // CURVE handshakes the servers refused (SECURITY.md, "Refused handshakes"): strangers and
      // revoked keys, peers in the clear, handshakes that do not decrypt (a wrong server key).
      {
        title: 'Handshakes refused (per 5 min)',
        unit: 'short',
        targets: [{ expr: 'sum by (role, reason) (increase(jobpipe_handshakes_refused_total[5m]))', legend: '{{role}} {{reason}}' }],
      },
      // A worker the ventilator refused: protocol v1 at a ventilator serving several pipelines, or
      // serving a pipeline this ventilator does not (alert JobpipeWorkerCreditRefused).
      {
        title: 'Worker credit refused (per 5 min)',
        unit: 'short',
        targets: [{ expr: 'sum by (reason) (increase(jobpipe_credit_refused_total[5m])) or vector(0)', legend: '{{reason}}' }],
      },
    ],
  },
  {
    // What waits for workers, and why: the figures the autoscalers (deploy/k8s/autoscalers) and the
    // alerts on waiting work read. A gauge every ventilator reports alike (the job stream, the
    // intake queue, the controls) is read with max, one each ventilator has of its own with sum.
    title: 'Waiting work',
    panels: [
      {
        title: 'Work waiting (jobs)',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (jobpipe_jobs_waiting{${P}})`, legend: 'held by ventilators {{pipeline}}' },
          { expr: `max by (pipeline) (jobpipe_stream_jobs_waiting{${P}})`, legend: 'on the job stream {{pipeline}}' },
          { expr: `jobpipe:work_waiting{${P}}`, legend: 'all not done, in flight too {{pipeline}}' },
        ],
      },
      {
        title: 'Fresh jobs waiting by priority',
        unit: 'short',
        targets: [{ expr: `sum by (pipeline, priority) (jobpipe_fresh_jobs_waiting{${P}})`, legend: '{{pipeline}} priority {{priority}}' }],
      },
      {
        title: 'Batches: running, open, queued',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (jobpipe_batches_running{${P}})`, legend: 'running (ventilators, with buckets of single jobs) {{pipeline}}' },
          { expr: `sum by (pipeline) (jobpipe_batches_open{${P}})`, legend: 'open (sink) {{pipeline}}' },
          { expr: `max by (pipeline) (jobpipe_batches_queued{${P}})`, legend: 'queued, not taken {{pipeline}}' },
        ],
      },
      {
        title: 'Oldest single job waiting',
        unit: 's',
        targets: [{ expr: `max by (pipeline) (jobpipe_oldest_waiting_seconds{${P}})`, legend: '{{pipeline}}' }],
      },
      // The autoscalers' figure: work not done over one worker's slots. Above the workers
      // connected, jobs wait for workers.
      {
        title: 'Workers wanted (work / slots) and connected',
        unit: 'short',
        targets: [
          { expr: `jobpipe:work_waiting{${P}} / on (pipeline) avg by (pipeline) (jobpipe_worker_slots{${P}})`, legend: 'wanted {{pipeline}}' },
          { expr: `sum by (pipeline) (jobpipe_workers_connected{${P}})`, legend: 'connected {{pipeline}}' },
        ],
      },
    ],
  },
  {
    title: 'Controls',
    panels: [
      {
        title: 'Paused pipelines',
        unit: 'short',
        type: 'stat',
        mappings: [{ type: 'value', options: { 0: { text: 'running', color: 'green' }, 1: { text: 'paused', color: 'orange' } } }],
        targets: [{ expr: `max by (pipeline) (jobpipe_pipeline_paused{${P}})`, legend: '{{pipeline}}' }],
      },
      {
        title: 'Rate limit and dispatch (jobs/s)',
        unit: 'ops',
        targets: [
          { expr: `max by (pipeline) (jobpipe_rate_limit{${P}})`, legend: 'limit (0 = none) {{pipeline}}' },
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_dispatched_total{${P}}[$__rate_interval]))`, legend: 'dispatched {{pipeline}}' },
        ],
      },
      {
        title: 'Rate-limit waits (per s)',
        unit: 'short',
        targets: [{ expr: `sum by (pipeline) (rate(jobpipe_rate_limit_waits_total{${P}}[$__rate_interval]))`, legend: '{{pipeline}}' }],
      },
      {
        title: 'Cancelled (per s)',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (rate(jobpipe_jobs_cancelled_total{${P}}[$__rate_interval]))`, legend: 'jobs {{pipeline}}' },
          { expr: `sum by (pipeline) (rate(jobpipe_batches_cancelled_total{${P}}[$__rate_interval]))`, legend: 'batches {{pipeline}}' },
        ],
      },
    ],
  },
  {
    title: 'Processes',
    panels: [
      {
        title: 'CPU per role (cores)',
        unit: 'short',
        targets: [{ expr: 'sum by (role) (rate(process_cpu_seconds_total{job=~"jobpipe-.*"}[$__rate_interval]))', legend: '{{role}}' }],
      },
      {
        title: 'Memory per process (RSS)',
        unit: 'bytes',
        targets: [{ expr: 'max by (role, instance) (process_resident_memory_bytes{job=~"jobpipe-.*"})', legend: '{{role}} {{instance}}' }],
      },
      {
        title: 'Payload bytes held (ventilator: JOBPIPE_MAX_IN_FLIGHT_BYTES, worker: JOBPIPE_CREDIT_BYTES)',
        unit: 'bytes',
        targets: [{ expr: `max by (role, instance) (jobpipe_payload_bytes_held{${P}})`, legend: '{{role}} {{instance}}' }],
      },
      {
        title: 'Event loop lag p99',
        unit: 's',
        targets: [{ expr: 'max by (role, instance) (nodejs_eventloop_lag_p99_seconds{job=~"jobpipe-.*"})', legend: '{{role}} {{instance}}' }],
      },
    ],
  },
];

/** Every expression of the dashboard, with its panel's title. */
export function allTargets() {
  return rows.flatMap((row) => row.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, ...target }))));
}
