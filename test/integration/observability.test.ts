/**
 * Issue "See the pipeline": the metrics contract on every role while a batch runs, every
 * dashboard expression and recording rule against a real Prometheus, the load-balance figure with
 * a slowed worker, and `jobpipe top` under a pseudo-terminal.
 */
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, command, echoPipeline, fetchText, parseMetrics, repoRoot, sleep, startBatch, waitFor, type Sample } from './helpers.js';
import { TestPrometheus } from './prometheus.js';
import type { Stack } from '@jobpipe/launcher';

const cleanup = new Cleanup();
let stack: Stack;
let prometheus: TestPrometheus;
// About 20 s: two workers at 500 jobs/s each and one at 50.
const JOBS = 20_000;

beforeAll(async () => {
  // One worker 10x slower than the other two: load balance must show it, and the batch takes
  // long enough to be scraped while it runs.
  ({ stack } = await startBatch(cleanup, {
    pipeline: echoPipeline,
    workers: 3,
    input: { jobs: JOBS, workMs: 4 },
    batchId: 'observed',
    env: { JOBPIPE_CONCURRENCY: '2' },
    workerEnv: (index): Record<string, string> => (index === 2 ? { JOBPIPE_ECHO_SLOWDOWN: '10' } : {}),
  }));
  const address = (role: { metricsPort: number }) => `127.0.0.1:${role.metricsPort}`;
  prometheus = await TestPrometheus.start([
    { job: 'jobpipe-ventilator', role: 'ventilator', address: address(stack.ventilator!) },
    { job: 'jobpipe-sink', role: 'sink', address: address(stack.sink) },
    ...stack.workers.map((worker) => ({ job: 'jobpipe-worker', role: 'worker', address: address(worker) })),
  ]);
  cleanup.add('prometheus', () => prometheus.stop());
}, 60_000);

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

  it('every dashboard expression and every recording rule parses and returns data while the batch runs', async () => {
    const { allTargets } = (await import(resolve(repoRoot, 'deploy/grafana/panels.mjs'))) as { allTargets: () => { panel: string; expr: string }[] };
    await waitFor('all targets up', async () => ((await prometheus.targetsUp()) === 5 ? true : undefined), 30_000, 250);
    // Rates need two scrapes in their window, and the recording rules an evaluation after that.
    await sleep(4000);
    const rules = (await (await fetch(`http://127.0.0.1:${prometheus.port}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { type: string; name: string; health: string }[] }[] };
    };
    const recording = rules.data.groups.flatMap((group) => group.rules).filter((rule) => rule.type === 'recording');
    expect(recording.length).toBeGreaterThanOrEqual(7);
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
    // Every worker shown, in a frame drawn over an earlier one.
    const shown = () =>
      ['worker-1', 'worker-2', 'worker-3', 'throughput', 'Jain index'].every((text) => screen.includes(text)) && screen.split('\x1b[H').length > 2;
    await waitFor('top shows every worker, twice', () => (shown() ? true : undefined), 20_000, 100);
    child.stdin.write('q');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    // Drawn in place on the alternate screen, left on quitting: cleared once at the start, then
    // each frame from the cursor's home over the last one.
    expect(screen).toContain('\x1b[?1049h');
    expect(screen).toContain('\x1b[?1049l');
    expect(screen.split('\x1b[2J')).toHaveLength(2);
    const lastFrame = screen.split('\x1b[H').at(-1)!;
    expect(lastFrame).toContain(`${targets.length} targets   (q quits)`);
    expect(lastFrame).toMatch(/throughput\s+[\d,]+ jobs\/s/);
    expect(lastFrame).toMatch(/worker-3\s+[\d,]+\s+[█░]+\s+\d+\/2/);
  });
});
