/**
 * Redis credentials, TLS and Sentinel (issue 7, "Locked down"), against redis-servers this file
 * starts itself:
 *
 * - an ACL user: the roles and `jobpipe submit` with the user and password from the environment,
 *   from a file (JOBPIPE_REDIS_PASSWORD_FILE) and in the URL; a wrong or missing password is one
 *   line and exit code 2 from `jobpipe submit` and from a role, at once, not a wait;
 * - rediss:// with a CA of the test's own and client certificates (mutual TLS): a ledger round
 *   trip, then a batch through real processes; no CA or no client certificate is refused clearly;
 * - Sentinel: one master, one sentinel with a password of its own; the roles and `jobpipe submit`
 *   find the master only through the sentinel (the URL's host does not exist);
 * - and in every case no password (nor the client key) in any process's stdout, stderr or /metrics.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { common, loadConfig, redisConnectionFrom, redisSettings } from '@jobpipe/config';
import { freePort, RedisServer, type RedisServerOptions, type RoleProcess } from '@jobpipe/launcher';
import { connectRedis, LedgerKeys, RedisLedger, redisOptionsFrom } from '@jobpipe/ledger';
import { Cleanup, echoPipeline, fetchText, logsOnce, runCli, waitFor, type CliRun } from './helpers.js';
import { startDurable, uniquePrefix, type Durable } from './durable-helpers.js';

const cleanup = new Cleanup();
let dir: string;
/** PEM files: a CA, a server certificate for 127.0.0.1 and a client certificate, all from that CA. */
let pki: { ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string };
/** Every secret of this file: none may appear in any output. */
const secrets: string[] = [];
const secret = (tag: string) => {
  const value = `${tag}-${randomBytes(9).toString('base64url')}`;
  secrets.push(value);
  return value;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'jobpipe-redis-security-'));
  const openssl = (...args: string[]) => {
    const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${run.stderr}`);
  };
  // EC keys: generated in milliseconds, where RSA takes a while on a busy machine.
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=jobpipe test CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['server', 'client']) {
    openssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=jobpipe test ${name}`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      ...(name === 'server' ? ['-extfile', 'server.ext'] : []),
    );
  }
  const at = (file: string) => join(dir, file);
  pki = { ca: at('ca.crt'), serverCert: at('server.crt'), serverKey: at('server.key'), clientCert: at('client.crt'), clientKey: at('client.key') };
  // The client key's body: a secret too.
  secrets.push(
    readFileSync(pki.clientKey, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('-----'))
      .join(''),
  );
});
afterEach(() => cleanup.run());
afterAll(async () => {
  await cleanup.run();
  rmSync(dir, { recursive: true, force: true });
});

/** A redis-server of this test's own, stopped by the cleanup. */
async function redisServer(options: RedisServerOptions): Promise<RedisServer> {
  const server = await RedisServer.start({ appendOnly: false, ...options });
  cleanup.add('redis-server', () => server.stop());
  return server;
}

/** `jobpipe ...args` with `env`, to its exit. */
async function cli(args: string[], env: Record<string, string>): Promise<Awaited<CliRun['exited']>> {
  return runCli(args, env, cleanup).exited;
}

/** `jobpipe submit --wait --json` of an echo batch of `jobs` jobs; its summary. */
async function submitAndWait(env: Record<string, string>, batchId: string, jobs = 20): Promise<{ batch: string; jobs: number; failed: number }> {
  const run = await cli(['submit', '--pipeline', echoPipeline, '--input', JSON.stringify({ jobs }), '--batch-id', batchId, '--wait', '--json'], env);
  expect(run.code, `jobpipe submit: ${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

/** Expects a one-line refusal on stderr and exit code 2. */
function expectRefused(run: { code: number | null; stderr: string }, message: RegExp): void {
  expect(run.code, run.stderr).toBe(2);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^jobpipe: /);
  expect(lines[0]).toMatch(message);
}

/** Everything the processes printed and served: their logs, stderr and /metrics, and `more`. */
async function outputsOf(processes: RoleProcess[], more: string[] = []): Promise<{ where: string; text: string }[]> {
  const outputs: { where: string; text: string }[] = more.map((text, i) => ({ where: `output ${i}`, text }));
  for (const process of processes) {
    outputs.push({ where: `${process.name} stdout`, text: process.lines.join('\n') }, { where: `${process.name} stderr`, text: process.stderr });
    if (process.running) outputs.push({ where: `${process.name} /metrics`, text: await fetchText(process.url('/metrics')) });
  }
  return outputs;
}

/** No secret, nor its URL-encoded form, in any of `outputs` (the message names where, never what). */
function expectNoSecrets(outputs: { where: string; text: string }[]): void {
  expect(secrets.length).toBeGreaterThan(0);
  for (const { where, text } of outputs) {
    for (const [i, value] of secrets.entries()) {
      expect(text.includes(value) || text.includes(encodeURIComponent(value)), `secret #${i} appears in ${where}`).toBe(false);
    }
  }
}

/** Starts a role that must refuse to run, and returns its exit code, stderr and fatal log line. */
async function refusedRole(durable: Durable, role: 'ventilator' | 'sink', env: Record<string, string>) {
  // Endpoints of its own: the stack's ventilator or sink holds the usual ones.
  const own: Record<string, string> =
    role === 'ventilator'
      ? { JOBPIPE_JOBS_BIND: `tcp://127.0.0.1:${await freePort()}` }
      : { JOBPIPE_RESULTS_BIND: `tcp://127.0.0.1:${await freePort()}`, JOBPIPE_EVENTS_BIND: `tcp://127.0.0.1:${await freePort()}` };
  const process = cleanup.role(await durable.stack.spawn(role, { ...own, ...env }, `refused ${role}`));
  const started = Date.now();
  const { code } = await process.exited;
  return { code, stderr: process.stderr, fatal: process.logs('redis refused the connection'), seconds: (Date.now() - started) / 1000, process };
}

describe('Redis credentials', () => {
  it('an ACL user: roles and jobpipe submit work with the password from env, a file or the URL; a wrong one is refused at once', async () => {
    const admin = secret('admin');
    const password = secret('app');
    const server = await redisServer({ password: admin });
    const prefix = uniquePrefix('acl');
    // What jobpipe needs, and no more: its own keys, the commands a client uses (BullMQ reads INFO
    // and names its connections), nothing of @dangerous otherwise (FLUSHALL, CONFIG, KEYS, ...).
    const root = new Redis(server.url);
    await root.call('ACL', 'SETUSER', 'jobpipe', 'on', `>${password}`, `~${prefix}:*`, '+@all', '-@dangerous', '+info', '+client|setname', '+client|getname');
    root.disconnect();
    const passwordFile = join(dir, 'redis-password');
    writeFileSync(passwordFile, `${password}\n`);
    const url = `redis://127.0.0.1:${server.port}`;

    const durable = await startDurable(cleanup, {
      server,
      pipeline: echoPipeline,
      prefix,
      workers: 2,
      rolesRedisUrl: url,
      // The sink reads the file, the ventilator the variable.
      env: { JOBPIPE_REDIS_USERNAME: 'jobpipe', JOBPIPE_REDIS_PASSWORD_FILE: passwordFile, JOBPIPE_LOG_LEVEL: 'debug' },
      ventilatorEnv: { JOBPIPE_REDIS_PASSWORD_FILE: '', JOBPIPE_REDIS_PASSWORD: password },
    });
    const ready = (await logsOnce(durable.stack.ventilator!, 'ready'))[0]!;
    expect(ready.redis).toBe(`redis://jobpipe:***@127.0.0.1:${server.port}/0`);

    // The user and password in the URL, as many deployments give them.
    const inUrl = { JOBPIPE_REDIS_URL: `redis://jobpipe:${encodeURIComponent(password)}@127.0.0.1:${server.port}`, JOBPIPE_REDIS_PREFIX: prefix };
    const summary = await submitAndWait(inUrl, 'acl-1');
    expect(summary).toMatchObject({ batch: 'acl-1', jobs: 20, failed: 0 });
    const fromFile = await cli(['status', 'acl-1'], {
      JOBPIPE_REDIS_URL: url,
      JOBPIPE_REDIS_USERNAME: 'jobpipe',
      JOBPIPE_REDIS_PASSWORD_FILE: passwordFile,
      JOBPIPE_REDIS_PREFIX: prefix,
    });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toMatch(/^acl-1 +echo +done +20\/20/);

    const wrong = secret('wrong');
    const outputs: string[] = [];
    for (const [env, message] of [
      [
        { JOBPIPE_REDIS_USERNAME: 'jobpipe', JOBPIPE_REDIS_PASSWORD: wrong },
        /^jobpipe: Redis at redis:\/\/jobpipe:\*\*\*@127\.0\.0\.1:\d+\/0 refused the connection: WRONGPASS/,
      ],
      [{}, /refused the connection: NOAUTH/],
      [{ JOBPIPE_REDIS_PASSWORD: wrong, JOBPIPE_REDIS_PASSWORD_FILE: passwordFile }, /JOBPIPE_REDIS_PASSWORD and JOBPIPE_REDIS_PASSWORD_FILE are both set/],
    ] as const) {
      const run = await cli(['submit', '--pipeline', echoPipeline, '--input', '{"jobs":1}'], { JOBPIPE_REDIS_URL: url, JOBPIPE_REDIS_PREFIX: prefix, ...env });
      expectRefused(run, message);
      outputs.push(run.stdout, run.stderr);
    }
    // A role with a wrong password exits at once, with one line and a fatal log line; it does not
    // wait as it waits out an outage, since no reconnect mends a password.
    const refused = await refusedRole(durable, 'ventilator', { JOBPIPE_REDIS_PASSWORD_FILE: '', JOBPIPE_REDIS_PASSWORD: wrong });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr.trimEnd()).toMatch(/^jobpipe: Redis at redis:\/\/jobpipe:\*\*\*@127\.0\.0\.1:\d+\/0 refused the connection: WRONGPASS[^\n]*$/);
    expect(refused.fatal).toHaveLength(1);
    expect(refused.seconds, 'a wrong password is not waited out').toBeLessThan(20);

    // The ACL above is enough: nothing was refused a command or a key.
    for (const process of durable.stack.processes) expect(process.lines.join('\n'), process.name).not.toMatch(/NOPERM/);
    expectNoSecrets(await outputsOf([...durable.stack.processes, refused.process], [...outputs, fromFile.stdout, fromFile.stderr]));
  });

  it('rediss:// with a private CA and client certificates: a ledger round trip and a batch; without the CA or the certificate, refused', async () => {
    const password = secret('tls');
    const server = await redisServer({ password, tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.ca, requireClientCertificates: true } });
    expect(server.url).toMatch(/^rediss:\/\//);
    const tlsEnv = { JOBPIPE_REDIS_TLS_CA_FILE: pki.ca, JOBPIPE_REDIS_TLS_CERT_FILE: pki.clientCert, JOBPIPE_REDIS_TLS_KEY_FILE: pki.clientKey };
    const prefix = uniquePrefix('tls');

    // In this process: the settings as a role reads them, then the ledger's commands over TLS.
    const connection = redisConnectionFrom(loadConfig({ redisUrl: common.redisUrl, ...redisSettings }, { env: { JOBPIPE_REDIS_URL: server.url, ...tlsEnv } }))!;
    expect(connection.display).toBe(`rediss://:***@127.0.0.1:${server.port}/0`);
    const ledger = new RedisLedger(connectRedis(redisOptionsFrom(connection)), prefix);
    cleanup.add('ledger client', () => ledger.redis.disconnect());
    await ledger.beginBatch('round-trip', 'echo', 1000);
    await ledger.admit('round-trip', [{ seq: 0, attempt: 1, payloadJson: '{"n":0}' }], 60_000);
    const recorded = await ledger.record(
      'round-trip',
      'w',
      [{ batch: 'round-trip', seq: 0, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: 'over TLS' }],
      0,
      100,
      2000,
    );
    expect(recorded).toMatchObject({ outcomes: 'R', recorded: 1 });
    const values: unknown[] = [];
    await ledger.forEachResult('round-trip', (_seq, value) => void values.push(value));
    expect(values).toEqual(['over TLS']);

    // Real processes: the roles, and the test's own client through the intake queue.
    const durable = await startDurable(cleanup, {
      server,
      pipeline: echoPipeline,
      prefix,
      workers: 1,
      env: tlsEnv,
      clientOptions: redisOptionsFrom(connection),
    });
    await durable.submit({ jobs: 20 }, 'tls-1');
    expect(await durable.done('tls-1')).toMatchObject({ jobs: 20, failed: 0 });
    const summary = await submitAndWait({ JOBPIPE_REDIS_URL: server.url, JOBPIPE_REDIS_PREFIX: prefix, ...tlsEnv }, 'tls-2');
    expect(summary).toMatchObject({ jobs: 20, failed: 0 });

    // Node's own CAs do not know the test's CA: refused at the handshake, by the CLI and a role.
    const noCa = await cli(['status'], { JOBPIPE_REDIS_URL: server.url, JOBPIPE_REDIS_PREFIX: prefix, ...tlsEnv, JOBPIPE_REDIS_TLS_CA_FILE: '' });
    expectRefused(noCa, /^jobpipe: Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 refused the connection: self[- ]signed certificate in certificate chain$/);
    const sink = await refusedRole(durable, 'sink', { JOBPIPE_REDIS_TLS_CA_FILE: '' });
    expect(sink.code, sink.stderr).toBe(2);
    expect(sink.stderr.trimEnd()).toMatch(/refused the connection: self[- ]signed certificate in certificate chain$/);
    // This Redis wants a client certificate. Over TLS 1.3 it says so in an alert after the
    // handshake, which a client reads on some connections and on others finds the connection
    // reset: the role waits out the resets and exits at the first alert.
    const ventilator = await refusedRole(durable, 'ventilator', { JOBPIPE_REDIS_TLS_CERT_FILE: '', JOBPIPE_REDIS_TLS_KEY_FILE: '' });
    expect(ventilator.code, ventilator.stderr).toBe(2);
    expect(ventilator.stderr.trimEnd()).toMatch(/refused the connection: tlsv13 alert certificate required \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)$/);

    expectNoSecrets(await outputsOf([...durable.stack.processes, sink.process, ventilator.process], [noCa.stdout, noCa.stderr]));
  });

  it('Sentinel: the roles and jobpipe submit find the master through a sentinel with a password of its own', async () => {
    const password = secret('master');
    const sentinelPassword = secret('sentinel');
    const master = await redisServer({ password });
    const sentinelPort = await freePort();
    const conf = join(dir, `sentinel-${sentinelPort}.conf`);
    // Sentinel rewrites its file as it learns: one per sentinel, in the test's directory.
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `requirepass ${sentinelPassword}`,
        `sentinel monitor jobpipe-test 127.0.0.1 ${master.port} 1`,
        `sentinel auth-pass jobpipe-test ${password}`,
        '',
      ].join('\n'),
    );
    const sentinel = cleanup.child(spawn('redis-server', [conf, '--sentinel', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' }));
    const asker = new Redis({ port: sentinelPort, password: sentinelPassword, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    asker.on('error', () => {});
    cleanup.add('sentinel client', () => asker.disconnect());
    await waitFor(
      'the sentinel to know the master',
      async () => ((await asker.call('SENTINEL', 'get-master-addr-by-name', 'jobpipe-test')) as string[] | null)?.[1] === String(master.port),
      10_000,
      100,
    );
    expect(sentinel.exitCode).toBeNull();

    const sentinelEnv = {
      // No such host: the master's address can only come from the sentinel.
      JOBPIPE_REDIS_URL: 'redis://master.invalid',
      JOBPIPE_REDIS_PASSWORD: password,
      JOBPIPE_REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      JOBPIPE_REDIS_SENTINEL_NAME: 'jobpipe-test',
      JOBPIPE_REDIS_SENTINEL_PASSWORD: sentinelPassword,
    };
    const prefix = uniquePrefix('sentinel');
    const durable = await startDurable(cleanup, {
      server: master,
      pipeline: echoPipeline,
      prefix,
      workers: 1,
      rolesRedisUrl: sentinelEnv.JOBPIPE_REDIS_URL,
      env: sentinelEnv,
    });
    const ready = (await logsOnce(durable.stack.sink, 'ready'))[0]!;
    expect(ready.redis).toBe(`redis://:***@jobpipe-test/0 via sentinels 127.0.0.1:${sentinelPort}`);
    const summary = await submitAndWait({ ...sentinelEnv, JOBPIPE_REDIS_PREFIX: prefix }, 'sentinel-1');
    expect(summary).toMatchObject({ jobs: 20, failed: 0 });
    expect(await durable.redis.exists(new LedgerKeys(prefix).pipelines)).toBe(1);

    expectNoSecrets(await outputsOf(durable.stack.processes));
  });

  it('--help and a bad setting show no password', async () => {
    const password = secret('help');
    const env = { JOBPIPE_REDIS_URL: `redis://:${password}@127.0.0.1:1`, JOBPIPE_REDIS_PASSWORD: password };
    const help = await cli(['ventilator', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('JOBPIPE_REDIS_PASSWORD_FILE');
    const bad = await cli(['sink', '--pipeline', echoPipeline], { ...env, JOBPIPE_REDIS_SENTINEL_NAME: 'm' });
    expectRefused(bad, /JOBPIPE_REDIS_SENTINEL_NAME is set but JOBPIPE_REDIS_SENTINELS is not/);
    expectNoSecrets(
      [help, bad].flatMap((run, i) => [
        { where: `run ${i} stdout`, text: run.stdout },
        { where: `run ${i} stderr`, text: run.stderr },
      ]),
    );
  });
});
