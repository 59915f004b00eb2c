/**
 * CURVE on every socket (SECURITY.md): the ventilator and the sink are CURVE servers with an
 * allow-list of client keys, checked by their ZAP handler. A peer without an allowed key gets no
 * job and cannot get a result recorded; a listener on the TCP stream sees no payload in the clear.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curveKeyPair, Dealer, Push } from 'zeromq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '@jobpipe/launcher';
import { encode } from '@jobpipe/protocol';
import { Cleanup, echoPipeline, fetchText, logsOnce, metricValue, repoRoot, runCli, sleep, startBatch, waitFor } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

const server = curveKeyPair();
const allowed = curveKeyPair();
const stranger = curveKeyPair();
const link = curveKeyPair();
const follower = curveKeyPair();
const serverEnv = {
  JOBPIPE_CURVE_SERVER_SECRET: server.secretKey,
  JOBPIPE_CURVE_CLIENT_KEYS: allowed.publicKey,
  JOBPIPE_CURVE_LINK_SECRET: link.secretKey,
  JOBPIPE_CURVE_LINK_KEYS: link.publicKey,
  JOBPIPE_CURVE_EVENTS_KEYS: follower.publicKey,
};
const clientEnv = (pair: { secretKey: string }) => ({ JOBPIPE_CURVE_SERVER_KEY: server.publicKey, JOBPIPE_CURVE_SECRET: pair.secretKey });
/** The test's own subscriber to the sink's events: an events-only key. */
const followerClient = { serverKey: server.publicKey, secretKey: follower.secretKey };
const secretPipeline = `${repoRoot}/test/integration/fixtures/secret.mjs`;
const MARKER = 'TOP-SECRET-PAYLOAD';

/** A TCP relay that keeps every byte that passes, both ways: the eavesdropper. */
class Tap {
  readonly chunks: Buffer[] = [];
  /** What the connecting side sent, alone: for a replay. */
  readonly fromClient: Buffer[] = [];
  readonly #sockets = new Set<Socket>();
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async to(targetPort: number): Promise<Tap> {
    const port = await freePort();
    const tap: Tap = new Tap(
      createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        for (const socket of [client, upstream]) {
          tap.#sockets.add(socket);
          socket.on('error', () => {});
          socket.on('data', (chunk: Buffer) => {
            tap.chunks.push(Buffer.from(chunk));
            if (socket === client) tap.fromClient.push(Buffer.from(chunk));
          });
        }
        client.pipe(upstream).pipe(client);
      }),
      port,
    );
    await new Promise<void>((resolve) => tap.server.listen(port, '127.0.0.1', resolve));
    return tap;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  close(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.server.close();
  }
}

describe('CURVE', () => {
  it('a worker whose key is not allowed gets no job and cannot get a result recorded; an allowed one runs the batch', async () => {
    const jobs = 200;
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 0,
      input: { jobs },
      batchId: 'curve-refused',
      env: { ...serverEnv, ...clientEnv(allowed) },
      curve: followerClient,
    });
    const summary = events.completed('curve-refused', 60_000);
    // Real workers with a key the servers do not know, with no keys at all, and with the keys of
    // other roles: the server's own pair, the ventilator's link pair, the events-only pair.
    const strangerWorker = await stack.addWorker(clientEnv(stranger));
    const plainWorker = await stack.addWorker({ JOBPIPE_CURVE_SERVER_KEY: '', JOBPIPE_CURVE_SECRET: '' });
    const impostors = await Promise.all([server, link, follower].map((pair) => stack.addWorker(clientEnv(pair))));
    // And one with an allowed key that trusts the wrong server key: its handshake cannot be read.
    const misled = await stack.addWorker({ JOBPIPE_CURVE_SERVER_KEY: stranger.publicKey, JOBPIPE_CURVE_SECRET: allowed.secretKey });
    await Promise.all([strangerWorker.ready, plainWorker.ready, misled.ready, ...impostors.map((worker) => worker.ready)]);

    // Raw sockets with the stranger's key: one asks for jobs, one forges results for this batch.
    const beggar = cleanup.socket(
      new Dealer({ linger: 0, curveServerKey: server.publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey }),
    );
    beggar.connect(stack.endpoints.jobsConnect);
    const received: Buffer[][] = [];
    void (async () => {
      for await (const frames of beggar) received.push(frames);
    })().catch(() => {});
    const forger = cleanup.socket(
      new Push({ linger: 0, sendTimeout: 0, curveServerKey: server.publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey }),
    );
    forger.connect(stack.endpoints.resultsConnect);
    const plainForger = cleanup.socket(new Push({ linger: 0, sendTimeout: 0 }));
    plainForger.connect(stack.endpoints.resultsConnect);
    const forged = encode({
      type: 'Results',
      pipeline: 'echo',
      worker: 'forger',
      results: Array.from({ length: jobs }, (_, seq) => ({
        batch: 'curve-refused',
        seq,
        attempt: 1,
        dispatchedAt: Date.now(),
        durationMs: 1,
        ok: true as const,
        value: { forged: true },
      })),
    });
    // Not awaited: with no completed handshake there is no connection to send on, so each send
    // waits, until the socket closes. Were one let in, the batch would show its forged results.
    const attempt = (send: () => Promise<void>) => void send().catch(() => {});
    attempt(() => forger.send(forged));
    attempt(() => plainForger.send(forged));
    attempt(() => beggar.send(encode({ type: 'Credit', worker: 'beggar', granted: 100, received: 0 })));

    // Each refusal is counted by reason: the keys no list of that socket holds (the stranger's
    // worker and raw sockets, and the three impostors on jobs; the sink admits the link key on
    // results), and the worker in the clear.
    const ventilatorUrl = stack.ventilator!.url('/metrics');
    const sinkUrl = stack.sink.url('/metrics');
    const refused = async (url: string, role: string, reason: string) =>
      metricValue(await fetchText(url), 'jobpipe_handshakes_refused_total', { role, reason }) ?? 0;
    await waitFor('the ventilator to refuse the stranger and the impostors', async () => (await refused(ventilatorUrl, 'ventilator', 'unknown_key')) >= 5);
    await waitFor('the sink to refuse the stranger', async () => (await refused(sinkUrl, 'sink', 'unknown_key')) >= 2);
    await waitFor('the ventilator to count the worker in the clear', async () => (await refused(ventilatorUrl, 'ventilator', 'wrong_mechanism')) >= 1);
    await waitFor('the sink to count the peers in the clear', async () => (await refused(sinkUrl, 'sink', 'wrong_mechanism')) >= 2);
    await waitFor('the ventilator to count the handshake it could not read', async () => (await refused(ventilatorUrl, 'ventilator', 'malformed')) >= 1);
    const misledSays = await logsOnce(misled, "handshake with the server failed; is JOBPIPE_CURVE_SERVER_KEY the servers' public key?");
    expect(misledSays[0]).toMatchObject({ endpoint: expect.stringMatching(/^tcp:\/\/127\.0\.0\.1:/) });
    await sleep(1000);
    const ventilatorMetrics = await fetchText(ventilatorUrl);
    expect(metricValue(ventilatorMetrics, 'jobpipe_jobs_dispatched_total') ?? 0).toBe(0);
    expect(metricValue(ventilatorMetrics, 'jobpipe_workers_connected')).toBe(0);
    expect(received).toEqual([]);
    for (const worker of [strangerWorker, plainWorker, misled, ...impostors]) {
      expect(metricValue(await fetchText(worker.url('/metrics')), 'jobpipe_job_duration_seconds_count') ?? 0).toBe(0);
    }
    const refusedLog = await logsOnce(stack.ventilator!, 'refused a CURVE client whose key is not allowed on this socket', 4);
    expect(refusedLog.map((line) => line.publicKey).sort()).toEqual([stranger.publicKey, server.publicKey, link.publicKey, follower.publicKey].sort());
    expect(refusedLog[0]).toMatchObject({ reason: 'unknown_key', socket: 'jobs' });
    const clearLog = await logsOnce(stack.ventilator!, 'refused a peer without CURVE (in the clear, or another mechanism)');
    expect(clearLog[0]).toMatchObject({ reason: 'wrong_mechanism', socket: 'jobs', error: 'ERR_ZMTP_MECHANISM_MISMATCH' });
    // The refused workers say so, naming the endpoint and their key, and keep trying.
    const strangerSays = await logsOnce(strangerWorker, "the server refused this worker's handshake; retrying", 2);
    expect(strangerSays.find((line) => line.socket === 'jobs')).toMatchObject({
      endpoint: stack.endpoints.jobsConnect,
      publicKey: stranger.publicKey,
      reason: 'unknown_key',
    });
    const plainSays = await logsOnce(plainWorker, "the server refused this worker's handshake; retrying");
    expect(plainSays[0]).toMatchObject({ publicKey: '(none)', reason: 'wrong_mechanism' });

    // Now a worker with the allowed key: it runs every job, and no forged result was recorded.
    const allowedWorker = await stack.addWorker();
    const done = await summary;
    expect(done).toMatchObject({ jobs, failed: 0, duplicates: 0 });
    expect(Object.keys(done.perWorker)).toEqual([allowedWorker.name]);
    expect(done.answer).toMatchObject({ count: jobs });
    const malformed = metricValue(await fetchText(sinkUrl), 'jobpipe_malformed_messages_total');
    expect(malformed, 'nothing from the refused peers reached the decoder').toBe(0);
  });

  it('an eavesdropper on the TCP stream sees no payload and no result in the clear, and cannot replay what it saw (both of which work without keys)', async () => {
    const run = async (curve: boolean, batchId: string) => {
      const { stack, events } = await startBatch(cleanup, {
        pipeline: secretPipeline,
        workers: 0,
        input: { jobs: 50 },
        batchId,
        env: curve ? { ...serverEnv, ...clientEnv(allowed) } : {},
        ...(curve ? { curve: followerClient } : {}),
      });
      const jobsTap = await Tap.to(stack.endpoints.jobsPort);
      const resultsTap = await Tap.to(stack.endpoints.resultsPort);
      cleanup.add('taps', () => (jobsTap.close(), resultsTap.close()));
      await stack.addWorker({ JOBPIPE_JOBS_CONNECT: `tcp://127.0.0.1:${jobsTap.port}`, JOBPIPE_RESULTS_CONNECT: `tcp://127.0.0.1:${resultsTap.port}` });
      const summary = await events.completed(batchId, 60_000);
      expect(summary).toMatchObject({ jobs: 50, failed: 0, answer: { count: 50 } });
      return { jobs: jobsTap.bytes, results: resultsTap.bytes, resultsSent: Buffer.concat(resultsTap.fromClient), stack };
    };
    /** Plays a captured worker-to-sink stream into a fresh connection; what the sink then counts. */
    const replay = async (stack: Awaited<ReturnType<typeof run>>['stack'], bytes: Buffer) => {
      const counted = async () => {
        const metrics = await fetchText(stack.sink.url('/metrics'));
        return (metricValue(metrics, 'jobpipe_jobs_completed_total') ?? 0) + (metricValue(metrics, 'jobpipe_duplicate_results_total') ?? 0);
      };
      const before = await counted();
      const socket = connect(stack.endpoints.resultsPort, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      // In the steps of a ZMTP greeting, as a peer would send it: libzmq reads the 10-byte
      // signature, then the rest of the 64-byte greeting, before anything else.
      for (const part of [bytes.subarray(0, 10), bytes.subarray(10, 64), bytes.subarray(64)]) {
        socket.write(part);
        await sleep(200);
      }
      await sleep(1000);
      socket.destroy();
      expect((await fetch(stack.sink.url('/readyz'))).status, 'the sink is still up').toBe(200);
      return (await counted()) - before;
    };

    const clear = await run(false, 'tap-clear');
    // The control: without keys the tap does see the payloads and the results, and a replay of
    // the captured results reaches the sink (as late duplicates of a done batch).
    expect(clear.jobs.includes(`${MARKER}-7`)).toBe(true);
    expect(clear.results.includes(`result-of-${MARKER}-7`)).toBe(true);
    expect(await replay(clear.stack, clear.resultsSent)).toBeGreaterThanOrEqual(50);

    const secret = await run(true, 'tap-curve');
    // The same traffic passed the taps (50 jobs and results, padded and encrypted)...
    expect(secret.jobs.length).toBeGreaterThan(50 * 20);
    expect(secret.results.length).toBeGreaterThan(50 * 20);
    // ...but none of it in the clear.
    for (const bytes of [secret.jobs, secret.results]) {
      expect(bytes.includes(MARKER)).toBe(false);
      expect(bytes.includes('result-of')).toBe(false);
      expect(bytes.includes('"batch"')).toBe(false);
    }
    // A replay of the captured CURVE stream gets nowhere: the handshake it carries was made with
    // the server's short-term key of the old connection, so the sink drops it unread.
    expect(await replay(secret.stack, secret.resultsSent)).toBe(0);
  });

  it('half a key configuration or a malformed key is a one-line error (exit 2) that never shows the key', async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'jobpipe-curve-'));
    cleanup.add('key folder', () => rmSync(keyDir, { recursive: true, force: true }));
    const secretFile = join(keyDir, 'server.secret');
    writeFileSync(secretFile, server.secretKey);
    const cases: { role: string; env: Record<string, string>; message: RegExp }[] = [
      { role: 'sink', env: { JOBPIPE_CURVE_SERVER_SECRET: server.secretKey }, message: /JOBPIPE_CURVE_CLIENT_KEYS is not: without an allow-list/ },
      { role: 'ventilator', env: { JOBPIPE_CURVE_CLIENT_KEYS: allowed.publicKey }, message: /JOBPIPE_CURVE_SERVER_SECRET is not/ },
      { role: 'worker', env: { JOBPIPE_CURVE_SERVER_KEY: server.publicKey }, message: /JOBPIPE_CURVE_SECRET is not/ },
      {
        role: 'worker',
        env: { JOBPIPE_CURVE_SERVER_KEY: server.publicKey, JOBPIPE_CURVE_SECRET: `${allowed.secretKey.slice(0, 39)}~` },
        message: /invalid JOBPIPE_CURVE_SECRET: is not a CURVE key/,
      },
      {
        role: 'sink',
        env: { JOBPIPE_CURVE_SERVER_SECRET: server.secretKey, JOBPIPE_CURVE_SERVER_SECRET_FILE: secretFile, JOBPIPE_CURVE_CLIENT_KEYS: allowed.publicKey },
        message: /set JOBPIPE_CURVE_SERVER_SECRET or JOBPIPE_CURVE_SERVER_SECRET_FILE, not both/,
      },
      {
        role: 'sink',
        env: { JOBPIPE_CURVE_SERVER_SECRET_FILE: '/nonexistent/server.secret', JOBPIPE_CURVE_CLIENT_KEYS: allowed.publicKey },
        message: /cannot read \/nonexistent\/server\.secret: ENOENT/,
      },
    ];
    const runs = cases.map((c) => runCli([c.role], { JOBPIPE_PIPELINE: echoPipeline, ...c.env }, cleanup));
    for (const [i, run] of runs.entries()) {
      const result = await run.exited;
      const lines = result.stderr.trimEnd().split('\n');
      expect(result.code, result.stderr).toBe(2);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(cases[i]!.message);
      for (const secret of [server.secretKey, allowed.secretKey, allowed.secretKey.slice(0, 39)]) expect(result.stderr).not.toContain(secret);
    }
  });

  it('keys from files (as `jobpipe keys --out` writes them) work; binding beyond loopback without keys logs a warning', async () => {
    const dir = `/tmp/jobpipe-keys-${process.pid}-${Date.now()}`;
    cleanup.add('key dir', () => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
    const made = await runCli(['keys', '--out', dir, '--clients', '2']).exited;
    expect(made.code, made.stderr).toBe(0);
    const fileEnv = {
      JOBPIPE_CURVE_SERVER_SECRET_FILE: `${dir}/server.secret`,
      JOBPIPE_CURVE_CLIENT_KEYS_FILE: `${dir}/clients.allow`,
      JOBPIPE_CURVE_LINK_SECRET_FILE: `${dir}/link.secret`,
      JOBPIPE_CURVE_LINK_KEYS_FILE: `${dir}/link.public`,
      JOBPIPE_CURVE_EVENTS_KEYS_FILE: `${dir}/events.public`,
      JOBPIPE_CURVE_SERVER_KEY_FILE: `${dir}/server.public`,
      JOBPIPE_CURVE_SECRET_FILE: `${dir}/client-2.secret`,
    };
    const { readFileSync } = await import('node:fs');
    const key = (name: string) => readFileSync(`${dir}/${name}`, 'utf8').trim();
    const { events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 1,
      input: { jobs: 20 },
      batchId: 'curve-files',
      env: fileEnv,
      curve: { serverKey: key('server.public'), secretKey: key('events.secret') },
    });
    expect(await events.completed('curve-files', 60_000)).toMatchObject({ jobs: 20, failed: 0 });

    // A sink bound on every interface without keys says so; with keys it does not.
    const bind = async (env: Record<string, string>) => {
      const sink = runCli(
        ['sink'],
        {
          JOBPIPE_PIPELINE: echoPipeline,
          JOBPIPE_METRICS_PORT: '0',
          JOBPIPE_LOG_FORMAT: 'json',
          JOBPIPE_RESULTS_BIND: `tcp://0.0.0.0:${await freePort()}`,
          JOBPIPE_EVENTS_BIND: `tcp://127.0.0.1:${await freePort()}`,
          ...env,
        },
        cleanup,
      );
      await waitFor('the sink to be ready', () => sink.stdout.includes('"msg":"ready"'), 20_000);
      sink.child.kill('SIGTERM');
      return (await sink.exited).stdout;
    };
    const clear = await bind({});
    expect(clear).toMatch(/"endpoint":"tcp:\/\/0\.0\.0\.0:\d+".*binding beyond loopback without CURVE keys/);
    expect(clear).not.toMatch(/"endpoint":"tcp:\/\/127\.0\.0\.1/);
    const keyed = await bind(fileEnv);
    expect(keyed).not.toContain('binding beyond loopback');
  });
});
