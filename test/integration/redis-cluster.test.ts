/**
 * Redis Cluster (README, Guarantees; docs/deployment.md, Redis): every key of a batch carries the
 * batch's hash tag and each intake queue its own, so the ledger's Lua commands and BullMQ's run on
 * a cluster. A cluster of three redis-server masters of the test's own (cluster mode, ports of its
 * own, temporary directories, no persistence), made with `redis-cli --cluster create`; the roles
 * and the CLI reach it with JOBPIPE_REDIS_CLUSTER. A durable batch runs through real processes,
 * its dead letters are retried and purged with the CLI, and every other ledger command runs on the
 * cluster from this process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, Stack } from '@jobpipe/launcher';
import { JobpipeClient } from '@jobpipe/intake';
import { connectFrom, LedgerKeys, type RedisClient } from '@jobpipe/ledger';
import type { JobResult } from '@jobpipe/protocol';
import { Cleanup, command, echoPipeline, hostSettingsBlanked, runCli, waitFor, within } from './helpers.js';

const run = promisify(execFile);
const cleanup = new Cleanup();
const NODES = 3;
const nodes: { port: number; dir: string; child: ChildProcess }[] = [];
let client: RedisClient | undefined;

/** `redis-cli -p <port> <args...>`: its output. */
async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

async function startNode(): Promise<void> {
  const port = await freePort();
  // The cluster bus gets a free port of its own (by default it is port + 10000, which may be taken).
  const busPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `jobpipe-cluster-${port}-`));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-port',
      String(busPort),
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '5000',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { stdio: 'ignore', cwd: dir },
  );
  nodes.push({ port, dir, child });
  await waitFor(`redis-server on port ${port}`, async () => (await redisCli(port, 'ping').catch(() => '')).trim() === 'PONG', 10_000, 50);
}

const env = () => ({
  ...hostSettingsBlanked(),
  JOBPIPE_REDIS_URL: `redis://127.0.0.1:${nodes[0]!.port}`,
  JOBPIPE_REDIS_CLUSTER: nodes.map(({ port }) => `127.0.0.1:${port}`).join(','),
  JOBPIPE_REDIS_PREFIX: prefix,
  JOBPIPE_PIPELINE: echoPipeline,
});
const prefix = `jt-cluster-${Date.now().toString(36)}`;
const keys = new LedgerKeys(prefix);

beforeAll(async () => {
  for (let i = 0; i < NODES; i++) await startNode();
  await run('redis-cli', ['--cluster', 'create', ...nodes.map(({ port }) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], {
    timeout: 20_000,
  });
  for (const { port } of nodes)
    await waitFor(`cluster_state:ok on ${port}`, async () => (await redisCli(port, 'cluster', 'info')).includes('cluster_state:ok'), 15_000, 100);
  client = connectFrom({
    host: '127.0.0.1',
    port: nodes[0]!.port,
    db: 0,
    tls: false,
    sentinelName: 'mymaster',
    cluster: nodes.map(({ port }) => ({ host: '127.0.0.1', port })),
  });
  client.on('error', () => {});
}, 40_000);

afterAll(async () => {
  await cleanup.run();
  client?.disconnect();
  for (const { child } of nodes) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  for (const { dir } of nodes) rmSync(dir, { recursive: true, force: true });
});

/** The hash slot of each key, as the cluster computes it. */
const slots = (names: string[]) => Promise.all(names.map(async (key) => Number(await client!.cluster('KEYSLOT', key))));

describe('Redis Cluster', () => {
  it('runs a durable batch through the roles and the CLI, with its dead letters retried and purged', async () => {
    const stack = cleanup.stack(await Stack.start({ command, pipeline: echoPipeline, workers: 0, startVentilator: false, env: env() }));
    await stack.startVentilator();
    for (let i = 0; i < 2; i++) await stack.addWorker();
    await Promise.all(stack.workers.map((worker) => worker.ready));

    const batch = 'on-cluster';
    const jobs = 200;
    // Every 10th job throws: echo has no retries, so 20 dead letters.
    const submitted = await within(
      'submit --wait',
      30_000,
      runCli(['submit', '--input', JSON.stringify({ jobs, failEvery: 10 }), '--batch-id', batch, '--wait', '--json'], env(), cleanup).exited,
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(JSON.parse(submitted.stdout.trim().split('\n').pop()!)).toMatchObject({ batch, jobs, failed: 20 });

    const k = keys.batch(batch);
    expect(await client!.hlen(k.results)).toBe(jobs - 20);
    expect(await client!.hlen(k.dead)).toBe(20);
    expect(await client!.hlen(k.inflight)).toBe(0);
    // One slot for the batch; the intake queue in a slot of its own.
    expect(new Set(await slots(Object.values(k) as string[])).size).toBe(1);
    expect(await client!.exists(`${prefix}:${LedgerKeys.intakeQueue('echo')}:meta`)).toBe(1);

    // The dead letters go round again (they fail again: the same seqs throw), and then are purged.
    const retried = await within('dead retry', 15_000, runCli(['dead', 'retry', batch], env(), cleanup).exited);
    expect(retried.code, retried.stderr).toBe(0);
    await waitFor(
      'the retried batch done again',
      async () => (await client!.hget(k.meta, 'status')) === 'done' && (await client!.hlen(k.dead)) === 20,
      20_000,
      100,
    );
    // The complete leaves the active set (another hash slot) in a command after the one that marks it done.
    await waitFor('the done batch out of the active set', async () => (await client!.smembers(keys.active('echo'))).length === 0 || undefined, 10_000, 100);
    const purged = await within('dead purge', 15_000, runCli(['dead', 'purge', batch], env(), cleanup).exited);
    expect(purged.code, purged.stderr).toBe(0);
    expect(await client!.hlen(k.dead)).toBe(0);

    const status = await within('status', 15_000, runCli(['status', batch, '--json'], env(), cleanup).exited);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ batch, state: 'done', done: jobs, failed: 20 });

    // Nothing went wrong quietly: some Redis errors are only logged (the sink's reconcile, the intake).
    // Warnings and errors are the failing jobs' alone, and the redelivery of the retried ones.
    for (const role of [stack.sink, stack.ventilator!, ...stack.workers]) {
      expect(role.stderr, role.name).toBe('');
      const troubles = role.lines.filter((line) => /"level":"(warn|error|fatal)"/.test(line) && !/"msg":"(dead letter|job failed|requeueing jobs)"/.test(line));
      expect(troubles, role.name).toEqual([]);
    }
  }, 60_000);

  it('runs every ledger command on the cluster', async () => {
    const intake = new JobpipeClient(client!, prefix);
    const ledger = intake.ledger;
    const ok = (seq: number): JobResult => ({ batch: 'x', seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: seq });
    const failed = (seq: number, attempt = 1): JobResult => ({
      batch: 'x',
      seq,
      attempt,
      dispatchedAt: 0,
      durationMs: 1,
      ok: false,
      error: { name: 'Error', message: 'no' },
    });
    const job = (seq: number, attempt = 1) => ({ seq, attempt, payloadJson: String(seq) });
    const batches = ['sweep-a', 'sweep-b'];
    for (const batch of batches) {
      await ledger.beginBatch(batch, 'sweep', 1000);
      // Fresh jobs with one pack lease (a MULTI), and a redelivery with the recheck (admit).
      expect(await ledger.admit(batch, [job(0), job(1), job(2), job(3)], 2000, false)).toEqual([]);
      expect(await ledger.admit(batch, [job(4)], 2000)).toEqual([]);
      expect(await ledger.filterNew(batch, [3, 4, 5])).toEqual([5]);
      await ledger.extendLeases(batch, [4], 3000);
      await ledger.expireNow(batch, [1]);
      // Pack lease expired, then due: seq 0..3 (pack, due at 2000), none of 4 (3000).
      const due = await ledger.takeDue(batch, 10, 1, 9000, 2500);
      expect(due.jobs.map(({ seq }) => seq).sort()).toEqual([]);
      expect(due.deadLettered).toBe(4);
      const recorded = await ledger.record(batch, 'w', [ok(4), failed(5)], 0, 10, 2600);
      expect(recorded.outcomes).toBe('RO');
      await ledger.endBatch(batch, 5);
      expect((await ledger.listDead(batch)).map(({ seq }) => seq)).toEqual([0, 1, 2, 3]);
      expect(await ledger.retryDead(batch, 'sweep', [0, 1])).toBe(2);
      expect(await ledger.purgeDead(batch)).toBe(2);
      const back = await ledger.takeDue(batch, 10, 5, 9000, 2700);
      expect(back.jobs.map(({ seq }) => seq).sort()).toEqual([0, 1]);
      await ledger.record(batch, 'w', [ok(0), ok(1)], 0, 10, 2800);
      expect(await ledger.activeBatches('sweep')).toContain(batch);
      expect(
        await ledger.complete(batch, 'sweep', {
          batch,
          pipeline: 'sweep',
          jobs: 5,
          failed: 2,
          duplicates: 0,
          wallSeconds: 1,
          jobsPerSecond: 1,
          perWorker: {},
          answer: null,
        }),
      ).toBe(true);
      expect(await ledger.activeBatches('sweep')).not.toContain(batch);
    }
    // Many record calls of two batches: their answered call keys are forgotten one batch (slot) at a time.
    for (const batch of batches) await ledger.beginBatch(`${batch}-calls`, 'sweep');
    for (let i = 0; i < 520; i++) {
      const batch = `${batches[i % 2]}-calls`;
      await ledger.admit(batch, [job(i)], Date.now() + 60_000);
      await ledger.record(batch, 'w', [ok(i)], 0, 10);
    }
    expect(await ledger.listBatches(10)).toEqual(expect.arrayContaining([...batches, ...batches.map((batch) => `${batch}-calls`)]));
    await intake.close();
  }, 30_000);
});
