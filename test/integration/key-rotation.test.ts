/**
 * Keys that change while the pipeline runs (SECURITY.md, "Rotating keys"): a worker's key and then
 * the server key pair are rotated by the documented steps while a batch runs, and the batch
 * completes with every result recorded once. On the way, a worker started before its key is
 * allowed is refused, keeps trying, and gets in once the key is allowed, without a restart.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curveKeyPair } from 'zeromq';
import { describe, expect, it } from 'vitest';
import type { Stack } from '@jobpipe/launcher';
import { echoPipeline, logsOnce, runCli, waitFor } from './helpers.js';
import { durableSuite, metric, startDurable } from './durable-helpers.js';

const suite = durableSuite('key-rotation');

/** A key set as `jobpipe keys --out` writes it, and each role's settings naming its files. */
async function keySet(name: string, clients = 1) {
  const dir = join(suite.scratch, name);
  const made = await runCli(['keys', '--out', dir, '--clients', String(clients)]).exited;
  expect(made.code, made.stderr).toBe(0);
  const file = (file: string) => join(dir, file);
  return {
    dir,
    file,
    /** Ventilator and sink settings (each reads only its own), and the worker's with client-1. */
    env: {
      JOBPIPE_CURVE_SERVER_SECRET_FILE: file('server.secret'),
      JOBPIPE_CURVE_CLIENT_KEYS_FILE: file('clients.allow'),
      JOBPIPE_CURVE_LINK_SECRET_FILE: file('link.secret'),
      JOBPIPE_CURVE_LINK_KEYS_FILE: file('link.public'),
      JOBPIPE_CURVE_EVENTS_KEYS_FILE: file('events.public'),
      JOBPIPE_CURVE_SERVER_KEY_FILE: file('server.public'),
      JOBPIPE_CURVE_SECRET_FILE: file('client-1.secret'),
    },
  };
}

/**
 * A rolling restart of the servers, which read their keys at start: the sink, then the ventilator
 * (a key added), or the ventilator first (a key removed: SECURITY.md, "Rotating keys").
 */
async function restartServers(stack: Stack, order: 'sink first' | 'ventilator first' = 'sink first'): Promise<void> {
  const restartSink = async () => {
    await stack.sink.stop();
    stack.sink = await stack.spawn('sink');
    await stack.sink.ready;
  };
  if (order === 'sink first') await restartSink();
  await stack.ventilator!.stop();
  await stack.startVentilator();
  if (order === 'ventilator first') await restartSink();
}

const sumTo = (n: number) => (n * (n - 1)) / 2;

describe('key rotation', () => {
  it("rotating a worker's key, then the server key pair, while a batch runs loses no job and records none twice", async () => {
    const keys = await keySet('rotation');
    const jobs = 3000;
    const d = await startDurable(suite.cleanup, {
      server: suite.server,
      pipeline: echoPipeline,
      workers: 1,
      env: { ...keys.env, JOBPIPE_CONCURRENCY: '2' },
      // Jobs held by a worker that lost its servers come back 3 s after they were sent. (A
      // ventilator that stops hands its batch back: the next resumes it at once.)
      ventilatorEnv: { JOBPIPE_LEASE_MS: '3000' },
    });
    const batch = 'rotated';
    await d.submit({ jobs, workMs: 10 }, batch);
    const stillRunning = async (step: string) => {
      const status = await d.client.status('echo', batch);
      expect(status?.state, `the batch still runs at: ${step}`).toBe('running');
      return status!.done;
    };
    await waitFor('the batch under way', async () => ((await d.client.status('echo', batch))?.done ?? 0) >= 100);

    // A worker's key (SECURITY.md, "A worker key"): a new pair, its public key added to the
    // allow-list, the servers restarted, the worker rolled onto it, the old key removed and the
    // servers restarted again. Here the new worker starts before its key is allowed: refused, it
    // says so, keeps trying, and is let in once the servers know its key, without a restart.
    const [oldWorker] = d.stack.workers;
    const oldKey = readFileSync(keys.file('client-1.public'), 'utf8').trim();
    const fresh = curveKeyPair();
    writeFileSync(keys.file('client-2.secret'), `${fresh.secretKey}\n`, { mode: 0o600 });
    const newWorker = await d.stack.addWorker({ JOBPIPE_CURVE_SECRET_FILE: keys.file('client-2.secret') });
    const said = await logsOnce(newWorker, "the server refused this worker's handshake; retrying", 2);
    expect(said.map((line) => line.socket).sort()).toEqual(['jobs', 'results']);
    for (const line of said) expect(line).toMatchObject({ publicKey: fresh.publicKey, reason: 'unknown_key', delayMs: 1000 });
    expect(said.find((line) => line.socket === 'jobs')?.endpoint).toBe(d.stack.endpoints.jobsConnect);
    appendFileSync(keys.file('clients.allow'), `${fresh.publicKey}  client-2\n`);
    await restartServers(d.stack);
    await stillRunning('servers restarted with both worker keys');
    await waitFor(
      'the new worker admitted on both sockets',
      () => newWorker.logs().filter((line) => /^admitted by the server after \d+ refused handshakes?$/.test(String(line.msg))).length >= 2,
      45_000,
    );
    const before = await metric(newWorker, 'jobpipe_job_duration_seconds_count');
    await waitFor('the admitted worker to run jobs', async () => (await metric(newWorker, 'jobpipe_job_duration_seconds_count')) > before);
    expect(newWorker.running, 'the same process: it was never restarted').toBe(true);
    await oldWorker!.stop();
    writeFileSync(keys.file('clients.allow'), `${fresh.publicKey}  client-2\n`);
    await restartServers(d.stack, 'ventilator first');
    const afterWorkerKey = await stillRunning('old worker key revoked');
    // The revoked key is refused now.
    const revoked = await d.stack.addWorker({ JOBPIPE_CURVE_SECRET_FILE: keys.file('client-1.secret') });
    const refusal = await logsOnce(revoked, "the server refused this worker's handshake; retrying");
    expect(refusal[0]).toMatchObject({ publicKey: oldKey, reason: 'unknown_key' });
    await revoked.stop();
    await waitFor('progress with the new worker key', async () => ((await d.client.status('echo', batch))?.done ?? 0) > afterWorkerKey + 100);

    // The server key pair (SECURITY.md, "The server key pair"): stop the ventilator (its batch
    // waits in Redis), roll the sink and the ventilator onto the new pair, roll the workers onto
    // its public key. The worker still trusting the old key cannot reach the new servers; its
    // jobs come back through their leases.
    const server = curveKeyPair();
    await d.stack.ventilator!.stop();
    writeFileSync(keys.file('server.secret'), `${server.secretKey}\n`, { mode: 0o600 });
    writeFileSync(keys.file('server.public'), `${server.publicKey}\n`);
    await d.stack.sink.stop();
    d.stack.sink = await d.stack.spawn('sink');
    await d.stack.sink.ready;
    await d.stack.startVentilator();
    await stillRunning('servers on the new key pair');
    const rolled = await d.stack.addWorker({ JOBPIPE_CURVE_SECRET_FILE: keys.file('client-2.secret') });
    await rolled.ready;
    await newWorker.stop();

    const summary = await d.done(batch, 90_000);
    // Every job once: the answer folds each recorded result, so a result recorded twice would
    // show in the count and the sum.
    expect(summary).toMatchObject({ jobs, failed: 0, answer: { count: jobs, sum: sumTo(jobs), failed: 0 } });
    expect(await d.client.status('echo', batch)).toMatchObject({ state: 'done', done: jobs, total: jobs, failed: 0 });
    expect(await metric(rolled, 'jobpipe_job_duration_seconds_count'), 'the worker on the new keys ran the rest').toBeGreaterThan(0);
  }, 150_000);
});
