/**
 * A real Prometheus (Debian's `prometheus` package) for tests: on a free port, in a temp dir,
 * scraping the targets it is given every second, with jobpipe's recording and alert rules.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '@jobpipe/launcher';
import { repoRoot, sleep } from './helpers.js';

export const rulesFile = resolve(repoRoot, 'deploy/prometheus/rules/jobpipe.yml');

export interface ScrapeTarget {
  /** The Prometheus job name, as deploy/prometheus/prometheus.yml names it (jobpipe-ventilator, ...). */
  job: string;
  role: string;
  address: string;
  /** More target labels, e.g. the `namespace` that a ServiceMonitor's targets carry on Kubernetes. */
  labels?: Record<string, string>;
}

export class TestPrometheus {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(targets: ScrapeTarget[]): Promise<TestPrometheus> {
    const jobs = [...new Set(targets.map((target) => target.job))].map((job) => ({
      job_name: job,
      static_configs: targets
        .filter((target) => target.job === job)
        .map((target) => ({ targets: [target.address], labels: { ...target.labels, role: target.role } })),
    }));
    return TestPrometheus.startWithConfig({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, rule_files: [rulesFile], scrape_configs: jobs });
  }

  /**
   * Starts Prometheus with `config` as its whole configuration file, as given (rule_files, scrape
   * configs, relabelling): for tests that run a configuration of deploy/ with its targets mapped.
   */
  static async startWithConfig(config: Record<string, unknown>): Promise<TestPrometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'jobpipe-prometheus-'));
    // JSON is YAML: no YAML library needed to write the config.
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: 'ignore' },
    );
    const prometheus = new TestPrometheus(child, port, dir);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) return prometheus;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('prometheus did not become ready in 30 s');
      await sleep(100);
    }
  }

  /** Runs an instant query; throws with Prometheus's error when the expression does not parse. */
  async query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const response = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new Error(`query failed: ${body.error}: ${expr}`);
    return body.data!.result;
  }

  async targetsUp(): Promise<number> {
    return (await this.query('sum(up)')).reduce((sum, sample) => sum + Number(sample.value[1]), 0);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
