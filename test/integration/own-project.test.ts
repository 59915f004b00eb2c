/**
 * A pipeline in a project of its own, outside this repository, set up and run as the README's
 * "A pipeline in your own project" says: each line of its `sh` blocks runs in order (the first in
 * this checkout, the rest in a new project in a temp dir), and its `pipeline.ts` is the README's,
 * word for word. A README line this test does not know fails it.
 *
 * What a test inside the suite must change, and nothing else: `npm run pack` builds nothing (the
 * suite has built) and packs into the temp dir, not ./packs; `npm install` adds --prefer-offline
 * (npm's cache is warm); the roles get ZeroMQ endpoints and metrics ports of the test's own. No
 * Redis: persistence is off, as in the README's lines.
 *
 * Then the README's example of a refused module: CommonJS exporting no pipeline gets exactly the
 * README's one line, and exit code 2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@jobpipe/launcher';
import { pidAlive, repoRoot, waitFor, within } from './helpers.js';

const HEADING = '### A pipeline in your own project';

interface Section {
  /** Lines of the `sh` blocks, comments removed, in order. */
  shell: string[];
  /** The `ts` block: the pipeline. */
  pipeline: string;
  /** The `text` block: the one line a module with no pipeline gets. */
  refusal: string;
  /** The whole section. */
  text: string;
}

function readmeSection(): Section {
  const readme = readFileSync(resolve(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n${HEADING}\n`);
  expect(start, `README has "${HEADING}"`).toBeGreaterThan(0);
  const rest = readme.slice(start + HEADING.length + 2);
  const end = rest.search(/\n#{2,3} /);
  const text = end < 0 ? rest : rest.slice(0, end);
  const blocks = [...text.matchAll(/^ *```(\w+)\n([\s\S]*?)^ *```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
  const shell = blocks
    .filter((b) => b.lang === 'sh')
    .flatMap((b) => b.body.split('\n'))
    .map((line) =>
      line
        .replace(/\s+#\s.*$/, '')
        .replace(/^#.*$/, '')
        .trim(),
    )
    .filter(Boolean);
  const pipeline = blocks.find((b) => b.lang === 'ts')?.body;
  const refusal = blocks.find((b) => b.lang === 'text')?.body.trim();
  expect(pipeline, 'a ts block').toBeDefined();
  expect(refusal, 'a text block').toBeDefined();
  return { shell, pipeline: pipeline!, refusal: refusal!, text };
}

/** A newcomer's shell: nothing of this machine's JOBPIPE_* settings, nothing npm set for the test run. */
const shellEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('JOBPIPE_') && !/^npm_/i.test(key)));

interface Run {
  line: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: Run[] = [];
let temp = '';

/** Runs `line` with bash in `cwd`, in a process group of its own (a shell job): killable as a whole. */
function bash(line: string, cwd: string, env: NodeJS.ProcessEnv): Run {
  const child = spawn('bash', ['-c', line], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('close', (code, signal) => done({ code, signal })));
  const run = { line, child, stdout: () => stdout, stderr: () => stderr, exited };
  started.push(run);
  return run;
}

async function bashToEnd(line: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  const run = bash(line, cwd, env);
  const { code, signal } = await within(`\`${line}\``, timeoutMs, run.exited);
  expect(code, `\`${line}\` exited ${code ?? signal}:\n${run.stdout()}\n${run.stderr()}`).toBe(0);
  return run;
}

function logLines(text: string, msg: string): Record<string, any>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, any>];
      } catch {
        return [];
      }
    })
    .filter((line) => line.msg === msg);
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterAll(async () => {
  // Whatever is left of the groups this file started (each was started detached: its pgid is its pid).
  for (const run of started) if (run.child.pid && groupAlive(run.child.pid)) process.kill(-run.child.pid, 'SIGKILL');
  await waitFor("the test's processes to be gone", () => started.every((run) => !run.child.pid || !groupAlive(run.child.pid)) || undefined, 10_000).catch(
    () => {},
  );
  if (temp) rmSync(temp, { recursive: true, force: true });
});

describe('a pipeline in your own project, as the README says', () => {
  let project = '';
  let shell: NodeJS.ProcessEnv = {};

  it('packs jobpipe, installs it in a new project, and runs a batch of its TypeScript pipeline with npx jobpipe', async () => {
    const section = readmeSection();
    temp = realpathSync(mkdtempSync(join(tmpdir(), 'jobpipe-own-project-')));
    const packs = join(temp, 'packs');
    let installGlob = '';
    let cwd = repoRoot;
    const env: NodeJS.ProcessEnv = { ...shellEnv };
    const ports = new Map<string, number>();
    const background: Run[] = [];
    const foreground: Run[] = [];
    const sink = () => background.find((run) => /^npx jobpipe sink\b/.test(run.line));
    const startedAt = Date.now();
    const took: string[] = [];

    for (const typed of section.shell) {
      const lap = Date.now();
      if (typed === 'npm ci && npm run pack') {
        // The checkout is installed and built already: only the packing, into the temp dir.
        const pack = await bashToEnd(`npm run pack -- --no-build --out ${packs}`, repoRoot, env, 60_000);
        installGlob = /npm install (\S+\.tgz)\s*$/m.exec(pack.stdout())?.[1] ?? '';
        expect(installGlob, `the install line npm run pack printed:\n${pack.stdout()}`).toBe(join(packs, '*.tgz'));
        expect(
          readdirSync(packs)
            .filter((name) => name.endsWith('.tgz'))
            .sort(),
        ).toEqual(
          [
            'cli',
            'config',
            'console',
            'intake',
            'launcher',
            'ledger',
            'observability',
            'pipeline',
            'protocol',
            'role-shell',
            'sink',
            'transport',
            'ventilator',
            'worker',
          ].map((name) => `jobpipe-${name}-0.1.0.tgz`),
        );
      } else if (/^mkdir (\S+) && cd \1$/.test(typed)) {
        project = join(temp, typed.split(' ')[1]!);
        mkdirSync(project);
        cwd = project;
      } else if (typed.startsWith('npm install /path/to/jobpipe/packs/*.tgz')) {
        expect(installGlob, 'npm run pack ran before').not.toBe('');
        await bashToEnd(`${typed.replace('/path/to/jobpipe/packs/*.tgz', installGlob)} --prefer-offline`, cwd, env, 150_000);
        // npm found every @jobpipe package among the tarballs: one copy each, from a file, none from a registry.
        const lock = JSON.parse(readFileSync(join(cwd, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> };
        const ours = Object.entries(lock.packages).filter(([path]) => path.includes('node_modules/@jobpipe/'));
        expect(ours.map(([path]) => path).sort()).toEqual(
          readdirSync(packs)
            .filter((n) => n.endsWith('.tgz'))
            .map((n) => `node_modules/@jobpipe/${n.replace(/^jobpipe-|-0\.1\.0\.tgz$/g, '')}`)
            .sort(),
        );
        for (const [path, entry] of ours) expect(entry.resolved, path).toMatch(/^file:.*\.tgz$/);
        // "Save this as pipeline.ts there"
        writeFileSync(join(cwd, 'pipeline.ts'), section.pipeline);
      } else if (/^npm (init|pkg) /.test(typed)) {
        await bashToEnd(typed, cwd, env, 30_000);
      } else if (typed.startsWith('export ')) {
        for (const assignment of typed.slice('export '.length).split(/\s+/)) {
          const [name, ...value] = assignment.split('=');
          env[name!] = value.join('=');
        }
        // Endpoints of the test's own (the README's are the defaults, which the machine may be using).
        for (const [name, port] of [
          ['JOBS', await freePort()],
          ['RESULTS', await freePort()],
          ['EVENTS', await freePort()],
        ] as const) {
          env[`JOBPIPE_${name}_BIND`] = `tcp://127.0.0.1:${port}`;
          env[`JOBPIPE_${name}_CONNECT`] = `tcp://127.0.0.1:${port}`;
        }
      } else if (typed.startsWith('npx jobpipe ')) {
        let line = typed;
        for (const port of new Set(line.match(/\b94\d\d\b/g) ?? [])) {
          if (!ports.has(port)) ports.set(port, await freePort());
          line = line.replaceAll(port, String(ports.get(port)));
        }
        if (line.endsWith('&')) {
          const role = bash(line.slice(0, -1).trim(), cwd, env);
          background.push(role);
          await waitFor(`\`${typed}\` to be ready`, () => logLines(role.stdout(), 'ready').length > 0 || undefined, 30_000).catch((error: Error) => {
            throw new Error(`${error.message}\n${role.stdout()}\n${role.stderr()}`);
          });
          expect(logLines(role.stdout(), 'ready')[0]!.pipeline, typed).toBe('squares');
        } else {
          expect(line, 'the foreground command is the ventilator with a batch').toMatch(/^npx jobpipe ventilator .*--input '(.*)'$/);
          const { n } = JSON.parse(/--input '(.*)'$/.exec(line)![1]!) as { n: number };
          const ventilator = bash(line, cwd, env);
          foreground.push(ventilator);
          const [completed] = await waitFor(
            "the sink's 'batch completed'",
            () => {
              const found = logLines(sink()?.stdout() ?? '', 'batch completed');
              return found.length > 0 ? found : undefined;
            },
            60_000,
          ).catch((error: Error) => {
            throw new Error(`${error.message}\n${[...background, ventilator].map((run) => `${run.line}:\n${run.stdout()}${run.stderr()}`).join('\n')}`);
          });
          let squares = 0;
          for (let i = 0; i < n; i++) squares += i * i;
          expect(completed!.summary).toMatchObject({ pipeline: 'squares', jobs: n, failed: 0, duplicates: 0, answer: squares });
          expect(section.text.replace(/\s+/g, ' '), 'the answer the README gives').toContain(`answer, ${squares}`);
        }
      } else {
        throw new Error(`README "${HEADING}": this test does not know how to check \`${typed}\`; add a check for it here`);
      }
      took.push(`${typed.split(' ').slice(0, 3).join(' ')}: ${((Date.now() - lap) / 1000).toFixed(1)} s`);
    }
    expect(foreground, 'the README runs a batch').toHaveLength(1);
    shell = env;

    // Stopped as the README says: Ctrl-C for the ventilator, `kill %1 %2` (SIGTERM to each job) for the others.
    for (const run of foreground) process.kill(-run.child.pid!, 'SIGINT');
    for (const run of background) process.kill(-run.child.pid!, 'SIGTERM');
    for (const run of [...foreground, ...background]) {
      await within(`\`${run.line}\` to stop`, 20_000, run.exited);
      await waitFor(`every process of \`${run.line}\` to be gone`, () => !groupAlive(run.child.pid!) || undefined, 10_000);
      expect(logLines(run.stdout(), 'stopped'), `${run.line} logs 'stopped'\n${run.stdout()}${run.stderr()}`).toHaveLength(1);
    }
    took.push(`in all: ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    console.log(`own project: ${took.join('; ')}`);
  }, 240_000);

  it("refuses a CommonJS module with no pipeline in the README's one line, exit code 2", async () => {
    expect(project, 'the project of the test before').not.toBe('');
    const { refusal } = readmeSection();
    // The README's path is in its project (/home/you/my-pipelines/...): the same file in this one.
    const readmePath = /^jobpipe: (\S+) exports no pipeline/.exec(refusal)?.[1] ?? '';
    const inProject = `/${basename(project)}/`;
    expect(readmePath, refusal).toContain(inProject);
    const path = readmePath.slice(readmePath.indexOf(inProject) + inProject.length);
    // What tsc writes for `export const squares = definePipeline(...)` with "module": "CommonJS".
    mkdirSync(dirname(join(project, path)), { recursive: true });
    writeFileSync(join(dirname(join(project, path)), 'package.json'), '{ "type": "commonjs" }\n');
    writeFileSync(
      join(project, path),
      [
        '"use strict";',
        'Object.defineProperty(exports, "__esModule", { value: true });',
        'exports.squares = void 0;',
        'const pipeline_1 = require("@jobpipe/pipeline");',
        "exports.squares = (0, pipeline_1.definePipeline)({ name: 'squares', split: function* () { yield 1; }, work: (x) => x });",
        '',
      ].join('\n'),
    );
    const worker = bash('npx jobpipe worker --metrics-port 0', project, { ...shell, JOBPIPE_PIPELINE: path });
    const { code } = await within('the worker to exit', 30_000, worker.exited);
    expect(code, worker.stderr()).toBe(2);
    expect(worker.stderr()).toBe(`${refusal.replace(readmePath, join(project, path))}\n`);
    expect(worker.stdout()).toBe('');
    expect(pidAlive(worker.child.pid!)).toBe(false);
  }, 60_000);
});
