/**
 * The console's web UI (docs/console.md) in a real browser: Debian's Chromium driven by
 * puppeteer-core, against the console role as a process, a Redis of the test's own and a running
 * pipeline (sink, ventilator, two workers). It shows the batch list moving with the sink's events
 * and no reload, a cancel from the batch page, a dead letter retried from the UI, and the submit
 * form naming the field a pipeline's schema refuses. It writes a screenshot of each page to
 * <temp dir>/screenshots and prints that folder.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RoleProcess, type RedisServer } from '@jobpipe/launcher';
import { durablePipeline, startDurable, startRedis, stopRedis, type Durable } from '../integration/durable-helpers.js';
import { Cleanup, command, hostSettingsBlanked, logsOnce, primesPipeline, waitFor } from '../integration/helpers.js';

const chromium = process.env.JOBPIPE_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** Without these, Chromium's connections are refused on the CI machines. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TOKEN = 'browser-test-admin-token-0123456789';
/** How long a condition in the page may take: an upper bound, never what is measured. */
const WAIT_MS = 20_000;

interface BatchStatus {
  batch: string;
  state: string;
  done: number;
  total: number | null;
  failed: number;
  cancelled: number;
  deadLetters?: number;
}

describe.skipIf(!existsSync(chromium))('console web UI in Chromium', () => {
  const cleanup = new Cleanup();
  let scratch: string;
  let screenshots: string;
  let marker: string;
  let server: RedisServer | undefined;
  let d: Durable;
  let base: string;
  let consolePort: number;
  let consoleRole: RoleProcess;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  /** Set once the page's shell did not start: the tests after that fail at once, saying why. */
  let uiDidNotStart = '';

  /** The console's API, as a producer or the test sees it. */
  async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  async function submit(batchId: string, input: unknown): Promise<void> {
    const answer = await api('POST', '/v1/pipelines/durable/batches', { input, batchId });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  }

  /** The text of the element with this data-testid (within `scope`, a CSS selector). */
  const text = (testid: string, scope = '') => page.$eval(`${scope} [data-testid="${testid}"]`.trim(), (el) => el.textContent?.trim() ?? '');
  const number = async (testid: string, scope = '') => Number((await text(testid, scope)).replace(/,/g, ''));

  /** Waits in the page until `predicate(args)` holds (evaluated on every animation frame). */
  async function until<A extends unknown[]>(what: string, predicate: (...args: A) => boolean, ...args: A): Promise<void> {
    try {
      await page.waitForFunction(predicate as (...args: unknown[]) => boolean, { timeout: WAIT_MS }, ...args);
    } catch (error) {
      throw new Error(`waiting for ${what}: ${(error as Error).message}; page errors: ${JSON.stringify(pageErrors)}`);
    }
  }

  async function open(hash: string, testid: string): Promise<void> {
    // Another hash is a route change within the page; the same URL again is a reload.
    const url = `${base}/${hash}`;
    if (page.url() === url) await page.reload({ waitUntil: 'load' });
    else await page.goto(url, { waitUntil: 'load' });
    // The shell first, briefly: a module that did not load fails here, saying which.
    if (uiDidNotStart) throw new Error(uiDidNotStart);
    await page.waitForSelector('[data-testid="live-state"]', { timeout: 10_000 }).catch((error: Error) => {
      uiDidNotStart = `the UI did not start: ${error.message}; page errors: ${JSON.stringify(pageErrors)}`;
      throw new Error(uiDidNotStart);
    });
    await page.waitForSelector(`[data-testid="${testid}"]`, { timeout: WAIT_MS });
  }

  const shot = (name: string) => page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });

  /** The console role on `consolePort`, as `jobpipe console` with only its environment. */
  async function startConsole(): Promise<RoleProcess> {
    const role = cleanup.role(
      new RoleProcess({
        role: 'console',
        command,
        metricsPort: await freePort(),
        env: {
          ...hostSettingsBlanked(),
          JOBPIPE_PIPELINE: `${durablePipeline},${primesPipeline}`,
          JOBPIPE_REDIS_URL: server!.url,
          JOBPIPE_REDIS_PREFIX: d.prefix,
          JOBPIPE_EVENTS_CONNECT: d.stack.endpoints.eventsConnect,
          JOBPIPE_CONSOLE_PORT: String(consolePort),
          JOBPIPE_CONSOLE_HOST: '127.0.0.1',
          JOBPIPE_CONSOLE_ADMIN_TOKENS: TOKEN,
          JOBPIPE_LOG_LEVEL: 'info',
        },
      }),
    );
    await role.ready;
    await logsOnce(role, 'ready');
    consoleRole = role;
    return role;
  }

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'jobpipe-browser-'));
    screenshots = join(scratch, 'screenshots');
    marker = join(scratch, 'broken');
    mkdirSync(screenshots, { recursive: true });
    server = await startRedis();
    d = await startDurable(cleanup, {
      server,
      pipeline: durablePipeline,
      workers: 2,
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }),
    });
    consolePort = await freePort();
    base = `http://127.0.0.1:${consolePort}`;
    const [launched] = await Promise.all([
      puppeteer.launch({ executablePath: chromium, args: [...CHROMIUM_FLAGS, `--user-data-dir=${join(scratch, 'chromium-profile')}`] }),
      startConsole(),
    ]);
    browser = launched;
    cleanup.add('chromium', () => browser.close());
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 860 });
    page.on('pageerror', (error) => pageErrors.push((error as Error).message));
    page.on('response', (response) => {
      if (response.status() >= 400 && !response.url().includes('/v1/')) pageErrors.push(`${response.status()} ${response.url()}`);
    });
    page.on('dialog', (dialog) => void dialog.accept());
    writeFileSync(marker, 'job 2 of batch dead fails while this file exists\n');
    console.log(`console UI screenshots: ${screenshots}`);
  });

  afterAll(async () => {
    await cleanup.run();
    await stopRedis(server);
    // The screenshots stay for whoever looks at them; the browser's profile goes.
    if (scratch) rmSync(join(scratch, 'chromium-profile'), { recursive: true, force: true });
  });

  it("serves the UI's page, its modules and what its import map names, with no token", async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    const html = await index.text();
    const imports = (JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!) as { imports: Record<string, string> }).imports;
    expect(Object.keys(imports).sort()).toEqual(['htm', 'preact', 'preact/hooks']);
    for (const path of [...Object.values(imports), '/ui/app.js', '/ui/api.js', '/ui/style.css']) {
      const response = await fetch(`${base}${path}`);
      expect(`${path}: ${response.status}`).toBe(`${path}: 200`);
      expect(response.headers.get('content-type'), path).toMatch(path.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      await response.arrayBuffer();
    }
  });

  it('asks for the token on 401, then shows the pipelines with their workers', async () => {
    await open('#/pipelines', 'token-form');
    await page.type('[data-testid="token-input"]', TOKEN);
    await page.click('[data-testid="token-save"]');
    await page.waitForSelector('[data-testid="pipeline-row-durable"]', { timeout: WAIT_MS });
    expect(await page.$('[data-testid="token-form"]')).toBeNull();
    expect(await page.$('[data-testid="pipeline-row-primes"]')).not.toBeNull();
    // The workers count comes with the `pipelines` events (every 2 s) as the ventilator's board fills.
    await until(
      '2 durable workers',
      () => document.querySelector('[data-testid="pipeline-row-durable"] [data-testid="pipeline-workers"]')?.textContent === '2',
    );
    await until('the events stream live', () => document.querySelector('[data-testid="live-state"]')?.textContent?.includes('live') === true);
    expect(pageErrors).toEqual([]);
  });

  it('the batch list follows a running batch live, without a reload', async () => {
    await open('#/batches', 'page-batches');
    await page.waitForSelector('[data-testid="no-batches"], [data-testid="batches-table"]', { timeout: WAIT_MS });
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await submit('live', { jobs: 80, workMs: 250 });
    const row = '[data-testid="batch-row-live"]';
    await page.waitForSelector(row, { timeout: WAIT_MS });
    // Part way: some done, not all; then all of them, state done, in the same document.
    await until(
      'the live batch part way',
      (selector: string) => {
        const done = Number(document.querySelector(`${selector} [data-testid="batch-done"]`)?.textContent);
        return done > 0 && done < 80;
      },
      row,
    );
    const partWay = await number('batch-done', row);
    await shot('batches-running');
    await until(
      'the live batch done',
      (selector: string) =>
        document.querySelector(`${selector} [data-testid="batch-state"]`)?.textContent === 'done' &&
        document.querySelector(`${selector} [data-testid="batch-done"]`)?.textContent === '80',
      row,
    );
    expect(partWay).toBeGreaterThan(0);
    expect(partWay).toBeLessThan(80);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    expect(await text('batch-summary', row)).toMatch(/^80 jobs/);
    expect((await api<BatchStatus>('GET', '/v1/batches/live')).body).toMatchObject({ state: 'done', done: 80, total: 80, failed: 0 });
  });

  it('shows the workers busy while a batch runs; a cancel from the batch page stops it, and the API agrees', async () => {
    await submit('to-cancel', { jobs: 400, workMs: 200 });
    await open('#/workers', 'page-workers');
    await until('2 workers, some slots busy', () => {
      const rows = document.querySelectorAll('[data-testid^="worker-row-"]');
      const busy = Array.from(rows).reduce((n, row) => n + Number(row.querySelector('[data-testid="worker-busy"]')?.textContent), 0);
      return rows.length === 2 && busy > 0;
    });
    await until('a rate shown', () => Number(document.querySelector('[data-testid="workers-rate"]')?.textContent) > 0);
    await shot('workers');

    await open('#/batches/to-cancel', 'page-batch');
    // Far enough for a line in the chart, far from the end (400 jobs of 200 ms on 8 slots: 10 s).
    await until('40 jobs of to-cancel done', () => Number(document.querySelector('[data-testid="batch-done"]')?.textContent) >= 40);
    expect(await text('batch-state')).toBe('running');
    await shot('batch-running');
    await page.click('[data-testid="batch-cancel"]');
    await until(
      'to-cancel done with jobs cancelled',
      () =>
        document.querySelector('[data-testid="batch-state"]')?.textContent === 'done' &&
        Number(document.querySelector('[data-testid="batch-cancelled"]')?.textContent?.replace(/,/g, '')) > 0,
    );
    expect(await text('action-message')).toBe('Batch to-cancel cancelled.');
    const status = (await api<BatchStatus>('GET', '/v1/batches/to-cancel')).body;
    expect(status).toMatchObject({ state: 'done', total: 400 });
    expect(status.cancelled).toBeGreaterThan(0);
    // What the page shows is what the API says (it may take one more event to settle).
    await until(
      'the page showing the API figures',
      (cancelled: number) => Number(document.querySelector('[data-testid="batch-cancelled"]')?.textContent?.replace(/,/g, '')) === cancelled,
      status.cancelled,
    );
    expect(await page.$('[data-testid="batch-cancel"]')).toBeNull();
  });

  it('a dead letter shows its error, is retried from the UI once its cause is gone, and completes', async () => {
    await submit('dead', { jobs: 12, workMs: 50, failWhile: { marker, seqs: [2] } });
    await open('#/batches/dead', 'page-batch');
    await page.waitForSelector('[data-testid="dead-row-2"]', { timeout: WAIT_MS });
    await until('dead done', () => document.querySelector('[data-testid="batch-state"]')?.textContent === 'done');
    expect(await text('dead-error', '[data-testid="dead-row-2"]')).toBe('Error: job 2 fails while broken exists');
    expect(await number('batch-failed')).toBe(1);
    await until('the dead letter counted', () => document.querySelector('[data-testid="batch-dead"]')?.textContent === '1');
    await page.waitForSelector('[data-testid="results-table"]', { timeout: WAIT_MS });
    await shot('batch');

    rmSync(marker);
    await page.click('[data-testid="dead-retry-all"]');
    await until(
      'dead done again with nothing failed',
      () =>
        document.querySelector('[data-testid="batch-state"]')?.textContent === 'done' &&
        document.querySelector('[data-testid="batch-failed"]')?.textContent === '0' &&
        document.querySelector('[data-testid="no-dead-letters"]') !== null,
    );
    expect(await text('action-message')).toBe('Sent 1 dead letter(s) round again.');
    expect((await api<BatchStatus>('GET', '/v1/batches/dead')).body).toMatchObject({ state: 'done', done: 12, failed: 0, deadLetters: 0 });
    expect((await api<{ deadLetters: unknown[] }>('GET', '/v1/batches/dead/dead')).body.deadLetters).toEqual([]);
    await shot('batch-retried');
  });

  it('the submit form names the field the pipeline refuses, and submits a good batch', async () => {
    await open('#/submit', 'page-submit');
    await until('primes offered', () =>
      Array.from((document.querySelector('[data-testid="submit-pipeline"]') as HTMLSelectElement | null)?.options ?? []).some((o) => o.value === 'primes'),
    );
    await page.select('[data-testid="submit-pipeline"]', 'primes');
    await page.$eval('[data-testid="submit-input"]', (el) => ((el as HTMLTextAreaElement).value = ''));
    await page.type('[data-testid="submit-input"]', '{"limit": 1}');
    await page.click('[data-testid="submit-button"]');
    await page.waitForSelector('[data-testid="field-error"][data-field="input.limit"]', { timeout: WAIT_MS });
    expect(await text('field-error', '[data-testid="field-input"]')).toMatch(/^input\.limit: /);
    expect(await page.$eval('[data-testid="submit-input"]', (el) => el.getAttribute('aria-invalid'))).toBe('true');
    expect(await text('submit-problem')).toContain('(422)');
    await shot('submit-error');

    await page.select('[data-testid="submit-pipeline"]', 'durable');
    await page.$eval('[data-testid="submit-input"]', (el) => ((el as HTMLTextAreaElement).value = ''));
    await page.type('[data-testid="submit-input"]', '{"jobs": 5}');
    await page.type('[data-testid="submit-batch-id"]', 'from-form');
    await page.click('[data-testid="submit-button"]');
    await page.waitForSelector('[data-testid="page-batch"] [data-testid="batch-state"]', { timeout: WAIT_MS });
    expect(page.url()).toBe(`${base}/#/batches/from-form`);
    await until('from-form done', () => document.querySelector('[data-testid="batch-state"]')?.textContent === 'done');
    expect(await number('batch-done')).toBe(5);
  });

  it("pages through a batch's results", async () => {
    await open('#/batches/live', 'results-table');
    const rows = () => page.$$eval('[data-testid="results-table"] tbody tr', (trs) => trs.map((tr) => tr.textContent));
    const first = await rows();
    expect(first).toHaveLength(20);
    await page.click('[data-testid="results-next"]');
    await until('page 2', () => document.querySelector('#results-title')?.textContent === 'Results, page 2');
    await until('other results', (before: string) => document.querySelector('[data-testid="results-table"] tbody tr')?.textContent !== before, first[0]!);
    const second = await rows();
    expect(second).toHaveLength(20);
    expect(second.filter((row) => first.includes(row))).toEqual([]);
    await page.click('[data-testid="results-previous"]');
    await until('page 1 again', () => document.querySelector('#results-title')?.textContent === 'Results, page 1');
  });

  it('follows the events again after the console restarts', async () => {
    await open('#/batches', 'batches-table');
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await consoleRole.stop('SIGTERM', 10_000);
    await until('the page reconnecting', () => document.querySelector('[data-testid="live-state"]')?.textContent !== '● live');
    await startConsole();
    await until('the page live again', () => document.querySelector('[data-testid="live-state"]')?.textContent === '● live');
    await submit('after-restart', { jobs: 5 });
    await until(
      'after-restart listed done',
      () => document.querySelector('[data-testid="batch-row-after-restart"] [data-testid="batch-state"]')?.textContent === 'done',
    );
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
  });

  it('lists the batches by state, and the pipelines with their queues', async () => {
    await open('#/batches', 'batches-table');
    // The table shows before the list's fetch has answered (rows the events brought come first).
    await until(
      'every batch of the run listed',
      (ids: string[]) => ids.every((batch) => document.querySelector(`[data-testid="batch-row-${batch}"]`) !== null),
      ['live', 'to-cancel', 'dead', 'from-form', 'after-restart'],
    );
    await shot('batches');
    await page.select('[data-testid="filter-state"]', 'running');
    await page.waitForSelector('[data-testid="no-batches"]', { timeout: WAIT_MS });
    expect(page.url()).toBe(`${base}/#/batches?state=running`);

    await open('#/pipelines', 'pipeline-row-durable');
    await until(
      '5 completed durable batches',
      () => document.querySelector('[data-testid="pipeline-row-durable"] [data-testid="pipeline-queue-completed"]')?.textContent === '5',
    );
    // Pause and a rate limit on primes (no worker serves it here), then resume.
    await page.click('[data-testid="pipeline-pause-primes"]');
    await page.waitForSelector('[data-testid="pipeline-resume-primes"]', { timeout: WAIT_MS });
    await page.type('[data-testid="pipeline-rate-input-primes"]', '50');
    await page.click('[data-testid="pipeline-rate-set-primes"]');
    await until('the limit shown', () => (document.querySelector('[data-testid="pipeline-rate-input-primes"]') as HTMLInputElement | null)?.value === '50');
    // The input shows what was typed at once: the form's PUT may still be on its way.
    const primes = await waitFor(
      'the limit set through the API',
      async () => {
        const { body } = await api<{ rateLimit: number | null }>('GET', '/v1/pipelines/primes');
        return body.rateLimit === 50 && body;
      },
      WAIT_MS,
    );
    expect(primes).toMatchObject({ paused: true, rateLimit: 50 });
    expect(await text('pipeline-state', '[data-testid="pipeline-row-primes"]')).toBe('paused');
    await shot('pipelines');
    await page.click('[data-testid="pipeline-resume-primes"]');
    await page.waitForSelector('[data-testid="pipeline-pause-primes"]', { timeout: WAIT_MS });
    expect((await api('GET', '/v1/pipelines/primes')).body).toMatchObject({ paused: false });
    expect(pageErrors).toEqual([]);
  });
});
