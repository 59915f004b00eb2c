/**
 * Issue "See the pipeline": the metrics contract on every role while a batch runs, every
 * dashboard expression and rule against a real Prometheus (and `promtool test rules` for when each
 * alert fires), the load-balance figure with a slowed worker, and `jobpipe top` under a
 * pseudo-terminal. Issue 16: the waiting work of a paused, then rate-limited pipeline as the
 * panels, the recording rule, the alerts and the autoscalers' queries (deploy/k8s/autoscalers) see
 * it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Cleanup, command, echoPipeline, fetchText, parseMetrics, repoRoot, sleep, startBatch, waitFor, type Sample } from './helpers.js';
import { durablePipeline, startDurable, startRedis, stopRedis, uniquePrefix, type Durable } from './durable-helpers.js';
import { rulesFile, TestPrometheus } from './prometheus.js';
import type { RedisServer, Stack } from '@jobpipe/launcher';

const cleanup = new Cleanup();
let redis: RedisServer;
let stack: Stack;
let prometheus: TestPrometheus;
// About 20 s: two workers at 500 jobs/s each and one at 50.
const JOBS = 20_000;

beforeAll(async () => {
  // On Redis, as deployed: the ventilator then measures the job stream and the intake queue too.
  redis = await startRedis();
  cleanup.add('redis', () => stopRedis(redis));
  // One worker 10x slower than the other two: load balance must show it, and the batch takes
  // long enough to be scraped while it runs.
  ({ stack } = await startBatch(cleanup, {
    pipeline: echoPipeline,
    workers: 3,
    input: { jobs: JOBS, workMs: 4 },
    batchId: 'observed',
    env: { JOBPIPE_CONCURRENCY: '2', JOBPIPE_REDIS_URL: redis.url, JOBPIPE_REDIS_PREFIX: uniquePrefix('observed') },
    workerEnv: (index): Record<string, string> => (index === 2 ? { JOBPIPE_ECHO_SLOWDOWN: '10' } : {}),
  }));
  const address = (role: { metricsPort: number }) => `127.0.0.1:${role.metricsPort}`;
  prometheus = await TestPrometheus.start([
    { job: 'jobpipe-ventilator', role: 'ventilator', address: address(stack.ventilator!) },
    { job: 'jobpipe-sink', role: 'sink', address: address(stack.sink) },
    ...stack.workers.map((worker) => ({ job: 'jobpipe-worker', role: 'worker', address: address(worker) })),
  ]);
  cleanup.add('prometheus', () => prometheus.stop());
  // Five roles and a Prometheus started one after the other, beside another test file's processes.
}, 120_000);

afterAll(() => cleanup.run(), 60_000);

const names = (samples: Sample[]) => new Set(samples.map((sample) => sample.name));
function typesOf(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
}

describe('metrics contract', () => {
  it('every role serves the contract metrics with their types and labels, and no job or batch id label', async () => {
    await waitFor('jobs recorded', async () =>
      parseMetrics(await fetchText(stack.sink.url('/metrics'))).find((s) => s.name === 'jobpipe_jobs_completed_total' && s.value > 0) ? true : undefined,
    );
    const ventilator = await fetchText(stack.ventilator!.url('/metrics'));
    const sink = await fetchText(stack.sink.url('/metrics'));
    const worker = await fetchText(stack.workers[0]!.url('/metrics'));
    const contract: [string, string, string, string[]][] = [
      [ventilator, 'jobpipe_jobs_dispatched_total', 'counter', ['pipeline']],
      [ventilator, 'jobpipe_jobs_redelivered_total', 'counter', ['pipeline']],
      [ventilator, 'jobpipe_jobs_inflight', 'gauge', ['pipeline']],
      [ventilator, 'jobpipe_jobs_dead_lettered_total', 'counter', ['pipeline']],
      [sink, 'jobpipe_jobs_completed_total', 'counter', ['pipeline', 'worker']],
      [sink, 'jobpipe_jobs_failed_total', 'counter', ['pipeline', 'worker']],
      [sink, 'jobpipe_duplicate_results_total', 'counter', ['pipeline']],
      [sink, 'jobpipe_job_latency_seconds_bucket', 'histogram', ['pipeline', 'le']],
      [sink, 'jobpipe_batches_completed_total', 'counter', ['pipeline']],
      [sink, 'jobpipe_malformed_messages_total', 'counter', ['role', 'reason']],
      [worker, 'jobpipe_job_duration_seconds_bucket', 'histogram', ['pipeline', 'le', 'worker']],
      [worker, 'jobpipe_worker_jobs_active', 'gauge', ['pipeline', 'worker']],
      [worker, 'jobpipe_malformed_messages_total', 'counter', ['role', 'reason', 'worker']],
    ];
    for (const [text, name, type, labels] of contract) {
      const samples = parseMetrics(text).filter((sample) => sample.name === name);
      expect(samples.length, name).toBeGreaterThan(0);
      for (const sample of samples) expect(Object.keys(sample.labels).sort(), name).toEqual([...labels].sort());
      expect(typesOf(text).get(name.replace(/_bucket$/, '')), name).toBe(type);
    }
    for (const text of [ventilator, sink, worker]) {
      expect(names(parseMetrics(text))).toContain('process_cpu_seconds_total');
      for (const sample of parseMetrics(text)) {
        expect(Object.keys(sample.labels)).not.toContain('batch');
        expect(Object.keys(sample.labels)).not.toContain('job');
      }
    }
    // Per-worker completions name every worker by its id.
    const perWorker = parseMetrics(sink)
      .filter((s) => s.name === 'jobpipe_jobs_completed_total')
      .map((s) => s.labels.worker);
    expect(perWorker.sort()).toEqual(['worker-1', 'worker-2', 'worker-3']);
  });
});

describe('Prometheus', () => {
  it('promtool accepts the shipped config and rules', () => {
    for (const args of [
      ['check', 'config', resolve(repoRoot, 'deploy/prometheus/prometheus.yml')],
      ['check', 'rules', resolve(repoRoot, 'deploy/prometheus/rules/jobpipe.yml')],
    ]) {
      const run = spawnSync('promtool', args, { encoding: 'utf8' });
      expect(run.status, `${args.join(' ')}: ${run.stdout}${run.stderr}`).toBe(0);
    }
  });

  it('promtool test rules: the waiting-work series, and when each alert on waiting work fires and when it does not', () => {
    const tests = resolve(repoRoot, 'test/integration/deploy-fixtures/prometheus-rules-tests.yml');
    const run = spawnSync('promtool', ['test', 'rules', tests], { encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });

  it('every dashboard expression and every recording rule parses and returns data while the batch runs', async () => {
    const { allTargets } = (await import(resolve(repoRoot, 'deploy/grafana/panels.mjs'))) as { allTargets: () => { panel: string; expr: string }[] };
    await waitFor('all targets up', async () => ((await prometheus.targetsUp()) === 5 ? true : undefined), 30_000, 250);
    // Rates need two scrapes in their window, and the recording rules an evaluation after that.
    await sleep(4000);
    const rules = (await (await fetch(`http://127.0.0.1:${prometheus.port}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { type: string; name: string; health: string; lastError?: string }[] }[] };
    };
    // Alerts too: evaluated without an error (a bad join or a type error shows here, not in promtool check).
    for (const rule of rules.data.groups.flatMap((group) => group.rules))
      expect(`${rule.name}: ${rule.health} ${rule.lastError ?? ''}`.trim()).toBe(`${rule.name}: ok`);
    const recording = rules.data.groups.flatMap((group) => group.rules).filter((rule) => rule.type === 'recording');
    expect(recording.length).toBeGreaterThanOrEqual(8);
    const empty: string[] = [];
    for (const { panel, expr } of allTargets()) {
      const query = expr.replaceAll('$pipeline', '.*').replaceAll('$__rate_interval', '15s');
      if ((await prometheus.query(query)).length === 0) empty.push(`${panel}: ${query}`);
    }
    for (const rule of recording) {
      expect(rule.health, rule.name).toBe('ok');
      if ((await prometheus.query(rule.name)).length === 0) empty.push(`rule ${rule.name}`);
    }
    expect(empty).toEqual([]);
  });

  it('the load-balance figure shows the slowed worker', async () => {
    const result = await waitFor('fairness computed', async () => (await prometheus.query('jobpipe:worker_fairness:jain1m'))[0], 20_000, 250);
    const fairness = Number(result.value[1]);
    // Two workers at full speed and one at a tenth: Jain's index is (2.1)^2 / (3 x 2.01) = 0.73.
    expect(fairness).toBeGreaterThan(0.4);
    expect(fairness).toBeLessThan(0.9);
    const perWorker = await prometheus.query('jobpipe:worker_jobs_recorded:rate1m');
    const slow = perWorker.find((sample) => sample.metric.worker === 'worker-3')!;
    const fast = perWorker.find((sample) => sample.metric.worker === 'worker-1')!;
    expect(Number(slow.value[1])).toBeLessThan(Number(fast.value[1]) / 3);
  });
});

describe('jobpipe top', () => {
  it('renders throughput, the batch and every worker in a terminal', async () => {
    const targets = [stack.ventilator!, stack.sink, ...stack.workers].map((role) => `127.0.0.1:${role.metricsPort}`);
    // `script` gives top a pseudo-terminal, as a user's terminal would; 'q' quits it.
    const child = spawn('script', ['-qfec', [...command, 'top', '--interval-ms', '300', ...targets].join(' '), '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, COLUMNS: '120', LINES: '40' },
    });
    cleanup.child(child);
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    // Every worker shown, in a frame drawn over an earlier one, with every target answering (on a
    // loaded machine one scrape may time out: that frame says so, and the next one is looked at).
    const complete = (frame: string) =>
      ['worker-1', 'worker-2', 'worker-3', 'throughput', 'Jain index', `${targets.length} targets   (q quits)`].every((text) => frame.includes(text));
    const shown = () => {
      const frames = screen.split('\x1b[H');
      // The last piece may be a frame still being written: the one before it is whole.
      const frame = frames.slice(1, -1).reverse().find(complete);
      return frames.length > 3 && frame !== undefined ? frame : undefined;
    };
    const frame = await waitFor('top shows every worker, twice, every target answering', shown, 20_000, 100);
    child.stdin.write('q');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    // Drawn in place on the alternate screen, left on quitting: cleared once at the start, then
    // each frame from the cursor's home over the last one.
    expect(screen).toContain('\x1b[?1049h');
    expect(screen).toContain('\x1b[?1049l');
    expect(screen.split('\x1b[2J')).toHaveLength(2);
    expect(frame).toMatch(/throughput\s+[\d,]+ jobs\/s/);
    expect(frame).toMatch(/worker-3\s+[\d,]+\s+[█░]+\s+\d+\/2/);
  });
});

/** The expression of a rule of deploy/prometheus/rules/jobpipe.yml, by its record or alert name. */
function ruleExpr(name: string): string {
  const groups = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { record?: string; alert?: string; expr: string }[] }[] }).groups;
  const rule = groups.flatMap((group) => group.rules).find((candidate) => (candidate.record ?? candidate.alert) === name);
  if (!rule) throw new Error(`no rule ${name} in ${rulesFile}`);
  return rule.expr.trim();
}

/**
 * The autoscalers' queries for one pipeline: a pool's KEDA trigger (worker-primes's, every series
 * selected by pipeline="primes") made that pipeline's, and the HPA's External metric as
 * prometheus-adapter serves it (its label matchers as for namespace jobpipe and that pipeline).
 */
function autoscalerQueries(pipeline: string): { keda: string; adapter: string } {
  const autoscalers = resolve(repoRoot, 'deploy/k8s/autoscalers');
  const scaledObject = parse(readFileSync(join(autoscalers, 'keda/worker-primes-scaledobject.yaml'), 'utf8')) as {
    spec: { triggers: { type: string; metadata: { query: string } }[] };
  };
  const adapter = parse(readFileSync(join(autoscalers, 'hpa/prometheus-adapter-values.yaml'), 'utf8')) as { rules: { external: { metricsQuery: string }[] } };
  return {
    keda: scaledObject.spec.triggers.find((trigger) => trigger.type === 'prometheus')!.metadata.query.replaceAll('pipeline="primes"', `pipeline="${pipeline}"`),
    adapter: adapter.rules.external[0]!.metricsQuery.replaceAll('<<.LabelMatchers>>', `namespace="jobpipe",pipeline="${pipeline}"`),
  };
}

describe('waiting work (issue 16): a paused, then rate-limited pipeline as the panels, the rules and the autoscalers see it', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'jobpipe-waiting-'));
  const log = join(scratch, 'executions.log');
  let d: Durable;
  let waiting: TestPrometheus;
  /** One instant query's only value (NaN when it has none). */
  const value = async (query: string) => Number((await waiting.query(query))[0]?.value[1] ?? Number.NaN);
  const P = '{pipeline="durable"}';
  const SINGLE = 15;

  beforeAll(async () => {
    // A small backlog (10 jobs in flight or held) and one batch at a time: with the pipeline
    // paused, a batch is held, the next one queued, and single jobs stay on the job stream.
    // The file's cleanup, run after every test of the file: a Cleanup of its own run earlier would
    // kill the first stack's processes too (Cleanup.run ends every stray jobpipe process).
    cleanup.add('scratch', () => rmSync(scratch, { recursive: true, force: true }));
    d = await startDurable(cleanup, {
      server: redis,
      pipeline: durablePipeline,
      workers: 1,
      ventilatorEnv: { JOBPIPE_MAX_IN_FLIGHT: '10', JOBPIPE_MAX_OPEN_BATCHES: '1' },
    });
    const address = (role: { metricsPort: number }) => `127.0.0.1:${role.metricsPort}`;
    // Labelled as a ServiceMonitor's targets are on Kubernetes, so the autoscalers' queries run as they are.
    const labels = { namespace: 'jobpipe' };
    waiting = await TestPrometheus.start([
      { job: 'jobpipe-ventilator', role: 'ventilator', address: address(d.stack.ventilator!), labels },
      { job: 'jobpipe-sink', role: 'sink', address: address(d.stack.sink), labels },
      { job: 'jobpipe-worker', role: 'worker', address: address(d.stack.workers[0]!), labels },
    ]);
    cleanup.add('prometheus', () => waiting.stop());
  }, 60_000);

  it('paused: a batch held, one queued, single jobs on the stream; the recorded series, the autoscalers and the alerts agree', async () => {
    await d.client.pause('durable');
    await sleep(600); // the ventilator reads the controls every 250 ms
    await d.submit({ jobs: 20, log }, 'held');
    await d.submit({ jobs: 5, log }, 'queued');
    await d.client.addBulk(
      'durable',
      Array.from({ length: SINGLE }, (_, i) => ({ payload: { i, log } })),
    );
    await waitFor(
      'the paused pipeline seen by Prometheus',
      async () =>
        (await value(`max(jobpipe_pipeline_paused${P})`)) === 1 &&
        (await value(`sum(jobpipe_batches_running${P})`)) >= 1 &&
        (await value(`max(jobpipe_batches_queued${P})`)) === 1 &&
        (await value(`sum(jobpipe_jobs_waiting${P})`)) > 0 &&
        (await value(`max(jobpipe_stream_jobs_waiting${P})`)) > 0 &&
        (await value(`max(jobpipe_oldest_waiting_seconds${P})`)) >= 1 &&
        (await value('jobpipe:work_waiting')) > 0,
      20_000,
      250,
    );
    // Nothing is sent while paused: the waiting work is what the ventilator holds and what the
    // stream holds, once the ventilator has read what it has room for (the same over 2 scrapes).
    expect(await value(`sum(jobpipe_jobs_inflight${P})`)).toBe(0);
    const both = `sum(jobpipe_jobs_waiting${P}) + max(jobpipe_stream_jobs_waiting${P})`;
    await waitFor('the waiting work settled', async () => (await value(both)) === (await sleep(2000).then(() => value(both))), 20_000, 0);
    const held = await value(`sum(jobpipe_jobs_waiting${P})`);
    const stream = await value(`max(jobpipe_stream_jobs_waiting${P})`);
    // Every single job waits on the stream or in the ventilator. (One the ventilator has read is
    // on the stream still until it is sent, so it counts in both for now: see the rule's comment.)
    expect(held + stream).toBeGreaterThanOrEqual(SINGLE);
    await waitFor('the recorded series caught up', async () => ((await value('jobpipe:work_waiting')) === held + stream ? true : undefined), 5000, 250);
    // The autoscalers' figure: the recording rule's expression over a worker's slots, at one
    // instant; not 0 here, so that agreeing means something.
    const { keda, adapter } = autoscalerQueries('durable');
    const slots = await value('avg(jobpipe_worker_slots)');
    expect(await value(keda)).toBeCloseTo((held + stream) / slots, 9);
    const rule = ruleExpr('jobpipe:work_waiting');
    expect(await value(`(${keda}) - sum(${rule}) / avg(jobpipe_worker_slots)`)).toBe(0);
    expect(await value(`(${adapter}) - (${keda})`)).toBe(0);
    // The alerts' joins on real series: paused for now (not for an hour), so single jobs waiting
    // alert nothing even at a threshold of 0; the queued batch waits behind a running one.
    expect((await waiting.query(ruleExpr('JobpipePipelinePaused'))).map((sample) => sample.metric.pipeline)).toEqual(['durable']);
    expect(await waiting.query(ruleExpr('JobpipeSingleJobsWaitingLong').replace(/> \d+/, '> 0'))).toEqual([]);
    expect(await waiting.query(ruleExpr('JobpipeBatchesQueuedNotTaken'))).toEqual([]);
    // Queue depth per priority: the held batch's jobs wait, without a priority.
    expect((await waiting.query(`sum by (priority) (jobpipe_fresh_jobs_waiting${P})`)).map((sample) => sample.metric.priority)).toEqual(['none']);
    // Without the pause, the oldest single job would be waiting long.
    expect(
      (
        await waiting.query(
          ruleExpr('JobpipeSingleJobsWaitingLong')
            .replace(/> \d+/, '> 0')
            .replace(/unless[^\n]*/, ''),
        )
      ).map((sample) => sample.metric.pipeline),
    ).toEqual(['durable']);
  });

  it('resumed at 40 jobs/s: the limit and its waits show, and the waiting work drains to 0', async () => {
    await d.client.setRateLimit('durable', 40);
    await sleep(600);
    await d.client.resume('durable');
    expect((await d.done('held', 30_000)).answer).toMatchObject({ count: 20 });
    expect((await d.done('queued', 30_000)).answer).toMatchObject({ count: 5 });
    await waitFor(
      'the waiting work drained, as Prometheus sees it',
      async () =>
        (await value(`max(jobpipe_pipeline_paused${P})`)) === 0 &&
        (await value('jobpipe:work_waiting')) === 0 &&
        (await value(`max(jobpipe_batches_queued${P})`)) === 0 &&
        (await value(`max(jobpipe_oldest_waiting_seconds${P})`)) === 0,
      20_000,
      250,
    );
    expect(await value(`max(jobpipe_rate_limit${P})`)).toBe(40);
    expect(await value(`sum(increase(jobpipe_rate_limit_waits_total${P}[1m]))`)).toBeGreaterThan(0);
    expect(await value(autoscalerQueries('durable').keda)).toBe(0);
    // The panels of the rows added for issue 16, on this pipeline: each returns data. (The queue
    // depth per priority has series only while jobs wait: checked while paused, above.)
    const { rows } = (await import(resolve(repoRoot, 'deploy/grafana/panels.mjs'))) as {
      rows: { title: string; panels: { title: string; targets: { expr: string }[] }[] }[];
    };
    const empty: string[] = [];
    for (const row of rows.filter((candidate) => ['Waiting work', 'Controls'].includes(candidate.title)))
      for (const panel of row.panels.filter((candidate) => candidate.title !== 'Fresh jobs waiting by priority'))
        for (const { expr } of panel.targets) {
          const query = expr.replaceAll('$pipeline', 'durable').replaceAll('$__rate_interval', '15s');
          if ((await waiting.query(query)).length === 0) empty.push(`${panel.title}: ${query}`);
        }
    expect(empty).toEqual([]);
  });
});
