/**
 * Start-up failures that a user causes by a setting, an input or the environment ("A newcomer's
 * first hour"): each is one line on stderr, `jobpipe: ...`, naming the setting (env and flag),
 * with exit code 2 and no stack trace (unless at log level debug). Run as the README runs it: the
 * `jobpipe` bin (cli/bin/jobpipe.js, which npm links as node_modules/.bin/jobpipe), against ports and a redis-server of the test's own.
 *
 * Also here: a role that cannot reach Redis says so once and waits (/readyz 503), and
 * `submit --wait` says what a batch that no ventilator takes is waiting for.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer } from '@jobpipe/launcher';
import { Cleanup, echoPipeline, primesPipeline, runCli, sleep, waitFor, within } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** `jobpipe ...args` through the bin (runCli), its log lines as JSON whatever the terminal. */
const jobpipe = (args: string[], env: Record<string, string> = {}) => runCli(args, { JOBPIPE_LOG_FORMAT: 'json', ...env }, cleanup);

/** Runs `jobpipe ...args` to its exit; one that keeps running fails the test (and is killed by the cleanup). */
function toExit(args: string[], env: Record<string, string> = {}) {
  return within(`jobpipe ${args.join(' ')} to exit`, 30_000, jobpipe(args, env).exited);
}

/** Exit code 2 and exactly one line on stderr, `jobpipe: ...`, naming `names` and saying `says`, with no stack trace. */
function expectOneLine(run: { code: number | null; stderr: string }, names: string, says: RegExp): void {
  expect(run.code, run.stderr).toBe(2);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^jobpipe: /);
  expect(lines[0]).toContain(names);
  expect(lines[0]).toMatch(says);
  expect(run.stderr).not.toContain('    at ');
}

/** A TCP port held by a plain server of the test's own, on loopback. */
async function occupiedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  cleanup.add('port holder', () => new Promise((done) => server.close(done)));
  return (server.address() as { port: number }).port;
}

/** Endpoints on loopback with ports the OS picks: nothing here collides with anything. */
const anyPort = 'tcp://127.0.0.1:*';
const roleEnv = {
  JOBPIPE_PIPELINE: echoPipeline,
  JOBPIPE_METRICS_PORT: '0',
  JOBPIPE_JOBS_BIND: anyPort,
  JOBPIPE_RESULTS_BIND: anyPort,
  JOBPIPE_EVENTS_BIND: anyPort,
};

describe('ports and endpoints in use', () => {
  it('a metrics port in use: each role names JOBPIPE_METRICS_PORT (--metrics-port)', async () => {
    const port = await occupiedPort();
    const runs = await Promise.all(['worker', 'sink', 'ventilator'].map((role) => toExit([role, '--metrics-port', String(port)], roleEnv)));
    for (const run of runs) expectOneLine(run, 'JOBPIPE_METRICS_PORT (--metrics-port)', new RegExp(`port ${port} is in use by another process`));
  });

  it('a ZeroMQ endpoint in use: the ventilator and the sink name the setting that gave it', async () => {
    const port = await occupiedPort();
    const endpoint = `tcp://127.0.0.1:${port}`;
    const [ventilator, sink] = await Promise.all([
      toExit(['ventilator', '--jobs-bind', endpoint], roleEnv),
      toExit(['sink'], { ...roleEnv, JOBPIPE_EVENTS_BIND: endpoint }),
    ]);
    expectOneLine(ventilator, 'JOBPIPE_JOBS_BIND (--jobs-bind)', new RegExp(`${endpoint} is in use by another process`));
    expectOneLine(sink, 'JOBPIPE_EVENTS_BIND (--events-bind)', new RegExp(`${endpoint} is in use by another process`));
  });

  it('at log level debug the same line comes with its stack', async () => {
    const port = await occupiedPort();
    const run = await toExit(['worker', '--metrics-port', String(port), '--log-level', 'debug'], roleEnv);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr.split('\n')[0]).toMatch(/^jobpipe: JOBPIPE_METRICS_PORT \(--metrics-port\): port \d+ is in use/);
    expect(run.stderr).toContain('    at ');
    expect(run.stderr).toContain('EADDRINUSE');
  });
});

describe('an input the pipeline rejects', () => {
  it('jobpipe ventilator --input names JOBPIPE_INPUT (--input) and the field, and does not start', async () => {
    const [primes, echo] = await Promise.all([
      toExit(['ventilator', '--pipeline', primesPipeline, '--input', '{"limit": 1}'], roleEnv),
      toExit(['ventilator'], { ...roleEnv, JOBPIPE_INPUT: '{"jobs": -1}' }),
    ]);
    expectOneLine(primes, 'JOBPIPE_INPUT (--input)', /primes rejects the input: input\.limit: Too small/);
    expectOneLine(echo, 'JOBPIPE_INPUT (--input)', /echo rejects the input: input\.jobs/);
    expect(primes.stdout + echo.stdout).not.toContain('batch failed');
  });
});

describe('a Redis that cannot be reached', () => {
  it('jobpipe submit, status and dead list give up after a few seconds with one line naming JOBPIPE_REDIS_URL (--redis-url)', async () => {
    const port = await freePort(); // nobody listens there
    const env = { JOBPIPE_REDIS_URL: `redis://127.0.0.1:${port}`, JOBPIPE_PIPELINE: echoPipeline };
    const runs = await Promise.all([toExit(['submit', '--input', '{"jobs": 1}'], env), toExit(['status'], env), toExit(['dead', 'list'], env)]);
    for (const run of runs)
      expectOneLine(run, 'JOBPIPE_REDIS_URL (--redis-url)', new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0.*: connection refused`));
  });

  it('a ventilator and a sink say once that they wait for it, and serve /readyz 503 meanwhile', async () => {
    const redisPort = await freePort();
    for (const role of ['ventilator', 'sink']) {
      const metricsPort = await freePort();
      const run = jobpipe([role], { ...roleEnv, JOBPIPE_METRICS_PORT: String(metricsPort), JOBPIPE_REDIS_URL: `redis://127.0.0.1:${redisPort}` });
      const waiting = `waiting for Redis at redis://127.0.0.1:${redisPort}/0 (JOBPIPE_REDIS_URL): connection refused`;
      await waitFor(`${role} to say it waits for Redis`, () => run.stdout.includes(waiting));
      // Two answers a second apart: by then the client has tried to connect several times more.
      for (let i = 0; i < 2; i++) {
        const status = await waitFor(
          `${role}'s /readyz`,
          () => fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((response) => response.status),
          10_000,
          200,
        );
        expect(status).toBe(503);
        await new Promise((done) => setTimeout(done, 1000));
      }
      run.child.kill('SIGTERM');
      const { code, stdout, stderr } = await within(`${role} to stop`, 20_000, run.exited);
      expect(code, stderr).toBe(0);
      expect(stderr).toBe('');
      const warnings = stdout.split('\n').filter((line) => line.includes('"level":"warn"'));
      expect(warnings.map((line) => JSON.parse(line).msg)).toEqual([waiting]);
    }
  });
});

describe('a Redis that wants a password', () => {
  const password = `pw-${randomBytes(6).toString('hex')}`;
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start({ password, appendOnly: false });
  });
  afterAll(() => server?.stop());
  const url = () => `redis://127.0.0.1:${server.port}`;

  it('a wrong or missing password is one line naming JOBPIPE_REDIS_PASSWORD (--redis-password), from the CLI and from a role', async () => {
    const wrong = { JOBPIPE_REDIS_URL: url(), JOBPIPE_REDIS_PASSWORD: 'not-it', JOBPIPE_PIPELINE: echoPipeline };
    const none = { JOBPIPE_REDIS_URL: url(), JOBPIPE_PIPELINE: echoPipeline };
    const [status, submit, dead, ventilator, sink] = await Promise.all([
      toExit(['status'], wrong),
      toExit(['submit', '--input', '{"jobs": 1}'], none),
      toExit(['dead', 'list', '--redis-username', 'nobody', '--redis-password', password], none),
      toExit(['ventilator'], { ...roleEnv, ...wrong }),
      toExit(['sink'], { ...roleEnv, ...none }),
    ]);
    for (const run of [status, ventilator])
      expectOneLine(run, 'JOBPIPE_REDIS_PASSWORD (--redis-password', /refused the connection: WRONGPASS: the user name or password is wrong/);
    for (const run of [submit, sink])
      expectOneLine(run, 'JOBPIPE_REDIS_PASSWORD (--redis-password', /refused the connection: NOAUTH: this Redis wants a password and none was given/);
    expectOneLine(dead, 'JOBPIPE_REDIS_USERNAME (--redis-username)', /WRONGPASS/);
    for (const run of [status, submit, dead, ventilator, sink]) expect(run.stderr).not.toContain(password);
  });

  it("an ACL user kept from the prefix's keys (NOPERM) is one line naming JOBPIPE_REDIS_USERNAME (--redis-username)", async () => {
    const admin = new Redis(`redis://:${password}@127.0.0.1:${server.port}`);
    try {
      await admin.call(
        'ACL',
        'SETUSER',
        'elsewhere',
        'on',
        '>its-password',
        '~elsewhere:*',
        '+@all',
        '-@dangerous',
        '+info',
        '+client|setname',
        '+client|getname',
      );
    } finally {
      admin.disconnect();
    }
    const env = { JOBPIPE_REDIS_URL: url(), JOBPIPE_REDIS_USERNAME: 'elsewhere', JOBPIPE_REDIS_PASSWORD: 'its-password', JOBPIPE_PIPELINE: echoPipeline };
    const runs = await Promise.all([toExit(['status'], env), toExit(['sink'], { ...roleEnv, ...env }), toExit(['ventilator'], { ...roleEnv, ...env })]);
    for (const run of runs)
      expectOneLine(run, 'JOBPIPE_REDIS_USERNAME (--redis-username)', /refused a command: NOPERM .*JOBPIPE_REDIS_PREFIX \(--redis-prefix\)/);
  });

  it('submit --wait says what a batch that no ventilator takes needs, once, and keeps waiting', async () => {
    const prefix = `jt-startup-${randomBytes(3).toString('hex')}`;
    const run = jobpipe(['submit', '--input', '{"jobs": 1}', '--wait', '--queued-notice', '1'], {
      JOBPIPE_REDIS_URL: url(),
      JOBPIPE_REDIS_PASSWORD: password,
      JOBPIPE_REDIS_PREFIX: prefix,
      JOBPIPE_PIPELINE: echoPipeline,
    });
    await waitFor('the notice', () => run.stderr.includes('\n'));
    const [line, ...more] = run.stderr.trimEnd().split('\n');
    expect(more).toEqual([]);
    expect(line).toMatch(
      /^jobpipe: no ventilator has taken batch echo-\S+ after 1 s: it needs a ventilator for pipeline echo running with the same JOBPIPE_REDIS_URL \(redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0\) and JOBPIPE_REDIS_PREFIX \(jt-startup-\w+\); roles started without JOBPIPE_REDIS_URL never see submitted batches/,
    );
    // Still waiting for the batch.
    expect(run.child.exitCode).toBeNull();
    expect(run.stdout).toMatch(/^submitted echo-\S+; waiting for it to finish\n {2}echo-\S+ {2}echo {2}queued {2}0 done\n$/);
  });

  it('status says when it lists only the newest batches, and how to see more', async () => {
    const env = {
      JOBPIPE_REDIS_URL: url(),
      JOBPIPE_REDIS_PASSWORD: password,
      JOBPIPE_REDIS_PREFIX: `jt-startup-${randomBytes(3).toString('hex')}`,
      JOBPIPE_PIPELINE: echoPipeline,
    };
    for (const id of ['first', 'second', 'third']) expect((await toExit(['submit', '--input', '{"jobs": 1}', '--batch-id', id], env)).code).toBe(0);
    const cut = await toExit(['status', '--limit', '2'], env);
    expect(cut.code).toBe(0);
    expect(
      cut.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]),
    ).toEqual(['third', 'second']);
    expect(cut.stderr).toBe('jobpipe: the newest 2 batches; there are more (--limit 4 shows more)\n');
    const whole = await toExit(['status', '--limit', '3'], env);
    expect(whole.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(whole.stderr).toBe('');
  });

  it('add --wait says what a job that no ventilator takes needs, once, and keeps waiting', async () => {
    const prefix = `jt-startup-${randomBytes(3).toString('hex')}`;
    const run = jobpipe(['add', '--payload', '{"i": 1}', '--wait', '--queued-notice', '1'], {
      JOBPIPE_REDIS_URL: url(),
      JOBPIPE_REDIS_PASSWORD: password,
      JOBPIPE_REDIS_PREFIX: prefix,
      JOBPIPE_PIPELINE: echoPipeline,
    });
    await waitFor('the notice', () => run.stderr.includes('\n'));
    expect(run.stderr).toMatch(
      /^jobpipe: no ventilator has taken job echo~\S+ after 1 s: it needs a ventilator for pipeline echo running with the same JOBPIPE_REDIS_URL \(redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0\) and JOBPIPE_REDIS_PREFIX \(jt-startup-\w+\)\. Still waiting\n$/,
    );
    await sleep(1500);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.child.exitCode).toBeNull();
  });
});

describe('a folder that cannot be made', () => {
  it('jobpipe keys --out where no folder can be made names the path, exit code 2', async () => {
    const run = await toExit(['keys', '--out', '/proc/jobpipe-nope/keys']);
    expectOneLine(run, '/proc/jobpipe-nope', /no such file or directory|permission denied/);
  });
});

describe('help', () => {
  it('every subcommand of dead has a description', async () => {
    const run = await toExit(['dead', '--help']);
    expect(run.code).toBe(0);
    const commands = run.stdout
      .split('Commands:')[1]!
      .split('\n')
      .filter((line) => /^ {2}\S/.test(line));
    expect(commands.map((line) => line.trim().split(/\s+/)[0])).toEqual(['list', 'retry', 'purge', 'help']);
    for (const line of commands) expect(line.trim(), line).toMatch(/\S\s{2,}\S/);
  });
});
