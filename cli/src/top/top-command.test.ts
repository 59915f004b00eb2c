import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { topCommand, toMetricsUrl } from './top-command.js';

// A sink's /metrics, its counters a little further on each scrape.
let scrapes = 0;
let server: Server;
let address: string;

beforeAll(async () => {
  server = createServer((_request, response) => {
    scrapes++;
    response.end(
      [
        `jobpipe_batch_jobs_done{pipeline="echo"} ${scrapes * 100}`,
        'jobpipe_batch_jobs_expected{pipeline="echo"} 100000',
        'jobpipe_batches_open{pipeline="echo"} 1',
        `jobpipe_jobs_completed_total{pipeline="echo",worker="worker-1"} ${scrapes * 100}`,
        'jobpipe_worker_slots{pipeline="echo",worker="worker-1"} 2',
        'jobpipe_worker_jobs_active{pipeline="echo",worker="worker-1"} 1',
        '',
      ].join('\n'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));
afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.JOBPIPE_TOP_TARGETS;
});

/** Runs `jobpipe top ...args` in this process and returns what it printed. */
async function runTop(args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  await topCommand().exitOverride().parseAsync(args, { from: 'user' });
  return out;
}

describe('jobpipe top --once', () => {
  it('prints one frame as plain text: no "(q quits)", no escape sequences', async () => {
    const out = await runTop(['--once', '--interval-ms', '100', address]);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^jobpipe top {2}\d\d:\d\d:\d\d {2}1 target$/);
    expect(out).not.toContain('q quits');
    expect(out).not.toContain('\x1b');
    expect(out).toMatch(/throughput +[\d,]+ jobs\/s/);
    expect(out).toMatch(/worker-1 +[\d,]+ +[█░]+ {2}1\/2/);
    expect(out).toMatch(/\(1 batch open\)/);
    expect(out.endsWith('\n')).toBe(true);
  });

  it('reads the addresses from JOBPIPE_TOP_TARGETS when none is given', async () => {
    process.env.JOBPIPE_TOP_TARGETS = `${address}, ${address}`;
    expect(await runTop(['--once', '--interval-ms', '100'])).toMatch(/^jobpipe top {2}\S+ {2}2 targets\n/);
  });

  it('refuses an interval under 100 ms', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await expect(runTop(['--once', '--interval-ms', '10', address])).rejects.toThrow(/at least 100/);
  });

  it('exits on its own once the frame is printed (the bin)', async () => {
    const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
    const child = spawn(process.execPath, [main, 'top', '--once', '--interval-ms', '100', address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/^jobpipe top .*1 target\n/);
    expect(out).not.toContain('\x1b');
  }, 15_000);
});

describe('toMetricsUrl', () => {
  it('makes host:port a /metrics URL and leaves a URL with a path as it is', () => {
    expect(toMetricsUrl('localhost:9401')).toBe('http://localhost:9401/metrics');
    expect(toMetricsUrl('http://a:1/')).toBe('http://a:1/metrics');
    expect(toMetricsUrl('https://a/custom')).toBe('https://a/custom');
    expect(() => toMetricsUrl('nohost:99999')).toThrow('nohost:99999 is not a metrics address: give host:port or a URL');
  });
});
