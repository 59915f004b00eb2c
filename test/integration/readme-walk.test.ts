/**
 * A newcomer's walk through the README, on a fresh clone: the setup part of the README's first
 * command (`npm ci`, then the build that `npm run demo` starts with), then every `npx jobpipe`
 * line of every `sh` block, section by section, in the README's order, through the bin that npm
 * linked, as a user would type them. Only what a test must change is changed: the machine's
 * ports (ZeroMQ endpoints and metrics ports of the test's own) and the Redis (one of the test's
 * own instead of 127.0.0.1:6379).
 *
 * A foreground command that runs until stopped (a ventilator, `top`) is stopped the way the README
 * says: Ctrl-C, i.e. SIGINT to its process group. Roles started with `&` are stopped at the end of
 * their section with SIGTERM to the npx process alone, the hardest case (npx does not pass it on):
 * every process of the section must then be gone.
 *
 * A README line this walk does not know how to check fails the test: a new command in the README
 * gets a check here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RedisServer } from '@jobpipe/launcher';
import { startRedis, stopRedis } from './durable-helpers.js';
import { pidAlive, repoRoot, sleep, waitFor, within } from './helpers.js';

/** README sections whose `npx jobpipe` lines run outside this checkout, and the test that runs them. */
const WALKED_ELSEWHERE: Record<string, string> = { 'A pipeline in your own project': 'own-project.test.ts' };

interface Section {
  heading: string;
  lines: string[];
}

/** The `sh` blocks of a Markdown text, grouped by the heading (## or ###) they stand under. */
function shellSections(markdown: string): Section[] {
  const sections: Section[] = [];
  let heading = '';
  let inBlock = false;
  for (const line of markdown.split('\n')) {
    if (!inBlock && /^#{2,3} /.test(line)) heading = line.replace(/^#+ /, '');
    else if (!inBlock && /^```(sh|bash|shell)\s*$/.test(line)) {
      inBlock = true;
      if (sections.at(-1)?.heading !== heading) sections.push({ heading, lines: [] });
    } else if (inBlock && line.startsWith('```')) inBlock = false;
    else if (inBlock) {
      const command = line
        .replace(/\s+#\s.*$/, '')
        .replace(/^#.*$/, '')
        .trim();
      if (command) sections.at(-1)!.lines.push(command);
    }
  }
  return sections;
}

/** A process the walk started, with what it printed. */
interface Started {
  line: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Pids of every live descendant of `pid`. */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const visit = (p: number) => {
    for (const child of children.get(p) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found.filter(pidAlive);
}

/** JSON log lines of `text` with message `msg`. */
function logLines(text: string, msg: string): Record<string, any>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, any>;
      } catch {
        return {};
      }
    })
    .filter((line) => line.msg === msg);
}

describe('the README, walked by a newcomer on a fresh clone', () => {
  let clone = '';
  let redis: RedisServer;
  /** A newcomer's shell: no JOBPIPE_* from this machine, nothing npm set for the test run. */
  const shellEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('JOBPIPE_') && !key.startsWith('npm_')));
  const everything: ChildProcess[] = [];

  /** Runs `line` with bash in the clone, as typed at a prompt: its own process group, like a job. */
  function start(line: string, env: NodeJS.ProcessEnv, options: { tty?: boolean } = {}): Started {
    const argv = options.tty ? ['script', ['-qfec', line, '/dev/null']] : ['bash', ['-c', line]];
    const child = spawn(argv[0] as string, argv[1] as string[], {
      cwd: clone,
      env: { ...env, COLUMNS: '120', LINES: '40' },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    everything.push(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    return { line, child, output: () => output, exited };
  }

  beforeAll(async () => {
    clone = mkdtempSync(join(tmpdir(), 'jobpipe-readme-'));
    const setup = (command: string, args: string[], cwd: string) => {
      const run = spawnSync(command, args, { cwd, env: shellEnv, encoding: 'utf8', timeout: 240_000 });
      if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${run.status ?? run.signal}):\n${run.stdout}\n${run.stderr}`);
    };
    setup('git', ['clone', '-q', repoRoot, clone], tmpdir());
    setup('npm', ['ci', '--no-audit', '--no-fund'], clone);
    setup('npm', ['run', 'build'], clone);
    redis = await startRedis();
  }, 420_000);

  afterAll(async () => {
    for (const child of everything) {
      try {
        if (child.pid) for (const pid of [child.pid, ...descendantsOf(child.pid)]) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await stopRedis(redis);
    if (clone) rmSync(clone, { recursive: true, force: true });
  });

  it('runs every npx jobpipe command of the README as documented, and stopping each role leaves no process behind', async () => {
    const readme = readFileSync(resolve(clone, 'README.md'), 'utf8');
    const sections = shellSections(readme).filter((section) => section.lines.some((line) => line.startsWith('npx jobpipe')));
    expect(sections.map((s) => s.heading)).toContain('Running the roles yourself');
    expect(sections.map((s) => s.heading)).toContain('Submitting batches');
    const walked: string[] = [];

    for (const section of sections) {
      const elsewhere = WALKED_ELSEWHERE[section.heading];
      if (elsewhere) {
        expect(existsSync(resolve(repoRoot, 'test/integration', elsewhere)), `${section.heading}: ${elsewhere}`).toBe(true);
        continue;
      }
      const where = `README section "${section.heading}"`;
      // Ports of the walk's own, new for each section, so nothing of the machine's is touched.
      const [jobs, results, events] = [await freePort(), await freePort(), await freePort()];
      const metricsPorts = new Map<string, number>();
      const env: NodeJS.ProcessEnv = {
        ...shellEnv,
        JOBPIPE_JOBS_BIND: `tcp://127.0.0.1:${jobs}`,
        JOBPIPE_JOBS_CONNECT: `tcp://127.0.0.1:${jobs}`,
        JOBPIPE_RESULTS_BIND: `tcp://127.0.0.1:${results}`,
        JOBPIPE_RESULTS_CONNECT: `tcp://127.0.0.1:${results}`,
        JOBPIPE_EVENTS_BIND: `tcp://127.0.0.1:${events}`,
        JOBPIPE_EVENTS_CONNECT: `tcp://127.0.0.1:${events}`,
      };
      const localize = async (line: string) => {
        let out = line.replaceAll('redis://127.0.0.1:6379', redis.url);
        for (const port of new Set(out.match(/\b94\d\d\b/g) ?? [])) {
          if (!metricsPorts.has(port)) metricsPorts.set(port, await freePort());
          out = out.replaceAll(port, String(metricsPorts.get(port)));
        }
        return out.replaceAll('<batch>', lastBatch).replaceAll('<job>', lastJob);
      };
      const background: Started[] = [];
      const untilStopped: Started[] = [];
      let lastBatch = '<batch>';
      let lastJob = '<job>';
      const sink = () => background.find((role) => /^npx jobpipe sink\b/.test(role.line));

      for (const typed of section.lines) {
        if (typed === 'npm ci && npm run build') continue; // done in the setup
        if (typed.startsWith('export ')) {
          for (const assignment of (await localize(typed)).slice('export '.length).split(/\s+/)) {
            const [name, ...value] = assignment.split('=');
            env[name!] = value.join('=');
          }
          continue;
        }
        if (!typed.startsWith('npx jobpipe ')) continue; // docker, kubectl: not on this machine
        const line = await localize(typed);
        const words = line.split(/\s+/);
        const subcommand = words[2]!;
        const context = () => `${where}: ${typed}`;
        walked.push(typed);

        if (line.endsWith('&')) {
          // The console's port (8480 by default) is one of the test's own too.
          const consolePort = subcommand === 'console' ? await freePort() : undefined;
          const role = start(line.slice(0, -1).trim(), consolePort ? { ...env, JOBPIPE_CONSOLE_PORT: String(consolePort) } : env);
          background.push(role);
          await waitFor(`${context()} to be ready`, () => logLines(role.output(), 'ready').length > 0 || undefined, 30_000).catch((error: Error) => {
            throw new Error(`${error.message}\n${role.output()}`);
          });
          if (subcommand === 'console') {
            // The console says where it listens; its API answers there (the README's curl lines use it).
            const { url } = logLines(role.output(), 'ready')[0]!;
            expect(url, context()).toBe(`http://127.0.0.1:${consolePort}/`);
            const answer = await fetch(`${url}v1/pipelines`);
            expect(answer.status, context()).toBe(200);
            expect(
              (await answer.json()).pipelines.map((pipeline: { name: string }) => pipeline.name),
              context(),
            ).toContain('primes');
          }
          continue;
        }
        switch (subcommand) {
          case 'ventilator': {
            // Runs until stopped: its --input batch must complete first.
            expect(line, context()).toContain('--input');
            const ventilator = start(line, env);
            untilStopped.push(ventilator);
            const [completed] = await waitFor(
              `${context()}: the sink's 'batch completed'`,
              () => {
                const found = logLines(sink()?.output() ?? '', 'batch completed');
                return found.length > 0 ? found : undefined;
              },
              90_000,
            );
            const summary = completed!.summary;
            expect(summary.failed, context()).toBe(0);
            expect(summary.answer.primes, context()).toBe(348_513);
            // Two workers on one host have two ids, and the summary counts jobs under those ids.
            const workerIds = background
              .filter((role) => /^npx jobpipe worker\b/.test(role.line))
              .map((role) => logLines(role.output(), 'ready')[0]!.worker as string);
            expect(new Set(workerIds).size, `${context()}: worker ids ${workerIds.join(', ')}`).toBe(workerIds.length);
            for (const id of Object.keys(summary.perWorker)) expect(workerIds, context()).toContain(id);
            break;
          }
          case 'top': {
            // A pseudo-terminal, as in a second terminal; q quits.
            const top = start(line, env, { tty: true });
            await waitFor(
              `${context()} to show the workers`,
              () => (/throughput/.test(top.output()) && /worker/.test(top.output())) || undefined,
              30_000,
            ).catch((error: Error) => {
              throw new Error(`${error.message}\n${top.output()}`);
            });
            top.child.stdin!.write('q');
            const { code } = await within(`${context()} to quit on q`, 10_000, top.exited);
            expect(code, `${context()}\n${top.output()}`).toBe(0);
            break;
          }
          case 'submit': {
            const submit = start(line, env);
            const { code } = await within(context(), 120_000, submit.exited);
            const output = submit.output();
            expect(code, `${context()}\n${output}`).toBe(0);
            lastBatch = /submitted (\S+?);?\s/.exec(output)?.[1] ?? lastBatch;
            if (line.includes('--wait')) expect(output, context()).toMatch(/done: \d+ jobs, 0 failed/);
            if (line.includes('limit": 5000000')) expect(output, context()).toContain('348513');
            break;
          }
          case 'status': {
            const status = start(line, env);
            const { code } = await within(context(), 30_000, status.exited);
            const output = status.output();
            expect(code, `${context()}\n${output}`).toBe(0);
            if (line.includes('--json')) expect(JSON.parse(output), context()).toMatchObject({ batch: lastBatch, state: 'done' });
            else expect(output, context()).toMatch(new RegExp(`${lastBatch}\\s+\\S+\\s+done`));
            break;
          }
          case 'dead': {
            const dead = start(line, env);
            const { code } = await within(context(), 30_000, dead.exited);
            expect(code, `${context()}\n${dead.output()}`).toBe(0);
            expect(dead.output(), context()).toContain('no dead letters');
            break;
          }
          case 'add': {
            const add = start(line, env);
            const { code } = await within(context(), 60_000, add.exited);
            const output = add.output().trim();
            expect(code, `${context()}\n${output}`).toBe(0);
            // A job id, `<bucket>:<seq>`, first on the line; with --wait its state and value after it.
            const [id, ...rest] = output.split(/\s+/);
            expect(id, context()).toMatch(/^[A-Za-z0-9._-]+~[^:\s]+:\d+$/);
            lastJob = id!;
            if (line.includes('--wait')) expect(rest.slice(1, 2), `${context()}\n${output}`).toEqual(['done']);
            break;
          }
          case 'job': {
            // The job may still be on its way: asked until it is done.
            const output = await waitFor(
              `${context()} to show the job done`,
              async () => {
                const job = start(line, env);
                const { code } = await within(context(), 30_000, job.exited);
                expect(code, `${context()}\n${job.output()}`).toBe(0);
                return /\sdone\s/.test(job.output()) ? job.output() : undefined;
              },
              30_000,
              200,
            );
            expect(output, context()).toContain(lastJob);
            break;
          }
          case 'pause':
          case 'resume':
          case 'limit': {
            const control = start(line, env);
            const { code } = await within(context(), 30_000, control.exited);
            expect(code, `${context()}\n${control.output()}`).toBe(0);
            expect(control.output(), context()).toContain(words[3]!);
            break;
          }
          case 'cancel': {
            // The batch or job the walk made is done by now: nothing to cancel, and says so.
            const cancel = start(line, env);
            const { code } = await within(context(), 30_000, cancel.exited);
            expect([code, cancel.output().trim()], context()).toEqual([1, expect.stringMatching(/^(batch|job) \S+ had ended already: nothing cancelled$/)]);
            break;
          }
          case 'keys': {
            // Keys are never overwritten: a second `keys --out` into the same folder says so.
            const out = resolve(clone, words[words.indexOf('--out') + 1]!);
            const had = existsSync(resolve(out, 'server.secret'));
            const keys = start(line, env);
            const { code } = await within(context(), 30_000, keys.exited);
            if (had) {
              expect(code, `${context()}\n${keys.output()}`).toBe(2);
              expect(keys.output().trim(), context()).toMatch(/^jobpipe: .* holds keys already .*--keep$/);
            } else {
              expect(code, `${context()}\n${keys.output()}`).toBe(0);
              for (const file of [
                'server.public',
                'server.secret',
                'link.public',
                'link.secret',
                'events.public',
                'events.secret',
                'client-1.public',
                'client-1.secret',
                'clients.allow',
              ])
                expect(existsSync(resolve(out, file)), `${context()}: ${file}`).toBe(true);
            }
            break;
          }
          default:
            throw new Error(`${context()}: this walk does not know how to check \`jobpipe ${subcommand}\`; add a check for it here`);
        }
      }

      // Stopping what the section started: Ctrl-C for what runs in the foreground, SIGTERM to npx
      // alone for the roles in the background. Every process of theirs must go.
      const pids = [...untilStopped, ...background].flatMap((role) => [role.child.pid!, ...descendantsOf(role.child.pid!)]);
      for (const role of untilStopped) process.kill(-role.child.pid!, 'SIGINT');
      for (const role of untilStopped) await within(`${where}: Ctrl-C to stop ${role.line}`, 20_000, role.exited);
      for (const role of background) process.kill(role.child.pid!, 'SIGTERM');
      await waitFor(`${where}: every process to be gone after SIGTERM`, () => pids.every((pid) => !pidAlive(pid)) || undefined, 45_000).catch(
        (error: Error) => {
          throw new Error(`${error.message}: still alive ${pids.filter(pidAlive).join(', ')}`);
        },
      );
      // Gone is not yet read: a role's last lines are in its pipe until the pipe closes, which
      // 'close' (exited) waits for.
      for (const role of [...untilStopped, ...background]) {
        await within(`${where}: the output of ${role.line} to end`, 10_000, role.exited);
        expect(logLines(role.output(), 'stopped').length, `${where}: ${role.line} logs 'stopped'\n${role.output()}`).toBe(1);
        expect(role.output(), `${where}: ${role.line}`).not.toMatch(/\n\s+at /);
      }
      await sleep(100);
    }

    // The walk saw the README's commands: the roles, both ways of giving a batch, and the admin commands.
    for (const expected of [
      'npx jobpipe sink',
      'npx jobpipe worker',
      'npx jobpipe ventilator',
      'npx jobpipe submit',
      'npx jobpipe status',
      'npx jobpipe top',
      'npx jobpipe keys',
    ]) {
      expect(
        walked.some((line) => line.startsWith(expected)),
        expected,
      ).toBe(true);
    }
  }, 400_000);
});
