import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Pipeline modules written to a temp dir: as a user's project has them, outside this repository.
const loaderPath = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/load-pipeline.js');
const root = mkdtempSync(join(tmpdir(), 'jobpipe-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const esm = join(root, 'esm');
const typeless = join(root, 'typeless');
mkdirSync(esm);
mkdirSync(typeless);
writeFileSync(join(esm, 'package.json'), '{ "type": "module" }\n');
writeFileSync(join(typeless, 'package.json'), '{ "name": "typeless" }\n');

function file(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const body = (name: string) => `{ name: '${name}', split: function* () { yield 1; }, work: (x) => x + 1 }`;
const tsBody = `
import type { Shape } from './types';
import { double } from './helpers/double';
enum Mode { Plain = 1 }
const pipeline = {
  name: 'typed',
  split: function* (input: Shape) { for (let i = 0; i < input.n; i++) yield i; },
  work: (x: number): number => double(x) + Mode.Plain,
};
export default pipeline;
`;

/**
 * What the built loader makes of each path, in a plain Node process: vitest loads modules its own
 * way (CommonJS interop, no require cache, no tsx hooks), so only real Node tells what users get.
 * Each result is the pipeline's name and, when `probe` is given, `work(probe)`; or the error.
 */
function loadInNode(paths: string[], probe?: unknown): { name?: string; work?: unknown; again?: boolean; error?: string; errorName?: string }[] {
  const script = `
    const { loadPipeline } = await import(${JSON.stringify(pathToFileURL(loaderPath).href)});
    const out = [];
    for (const path of JSON.parse(process.argv[1])) {
      try {
        const pipeline = await loadPipeline(path);
        const probe = JSON.parse(process.argv[2] ?? 'null');
        out.push({ name: pipeline.name, work: probe === null ? undefined : await pipeline.work(probe, {}), again: (await loadPipeline(path)) === pipeline });
      } catch (error) {
        out.push({ error: error.message, errorName: error.name });
      }
    }
    process.stdout.write(JSON.stringify(out));`;
  const args = ['--no-warnings', '--input-type=module', '-e', script, JSON.stringify(paths), ...(probe === undefined ? [] : [JSON.stringify(probe)])];
  return JSON.parse(execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' })) as ReturnType<typeof loadInNode>;
}

function failure(path: string): string {
  const [result] = loadInNode([path]);
  expect(result?.errorName, JSON.stringify(result)).toBe('PipelineError');
  expect(result!.error, 'one line').not.toContain('\n');
  return result!.error!;
}

describe('loadPipeline', () => {
  it('loads an ES module by path, absolute or relative to the working directory', () => {
    const path = file(join(esm, 'plain.js'), `export default ${body('plain')};\n`);
    expect(loadInNode([path, relative(root, path)], 1)).toEqual([
      { name: 'plain', work: 2, again: true },
      { name: 'plain', work: 2, again: true },
    ]);
  });

  it('loads TypeScript (.ts, .mts) without a build step: types, enums, extensionless relative imports; once per process', () => {
    for (const dir of [esm, typeless]) {
      file(join(dir, 'types.ts'), 'export interface Shape { n: number }\n');
      file(join(dir, 'helpers/double.ts'), 'export const double = (x: number): number => 2 * x;\n');
      file(join(dir, 'typed.ts'), tsBody);
    }
    const mts = file(
      join(typeless, 'typed.mts'),
      `export default { name: 'mts', split: function* (): Generator<number> { yield 1; }, work: (x: number): number => x * 3 };\n`,
    );
    // In a package that is not "type": "module", tsx compiles the .ts file to CommonJS: it loads all the same.
    expect(loadInNode([join(esm, 'typed.ts'), join(typeless, 'typed.ts'), mts], 5)).toEqual([
      { name: 'typed', work: 11, again: true },
      { name: 'typed', work: 11, again: true },
      { name: 'mts', work: 15, again: true },
    ]);
  });

  it('loads a TypeScript pipeline in a worker thread too (a worker with threads > 0 loads it in each)', () => {
    file(join(esm, 'types.ts'), 'export interface Shape { n: number }\n');
    file(join(esm, 'helpers/double.ts'), 'export const double = (x: number): number => 2 * x;\n');
    const path = file(join(esm, 'typed.ts'), tsBody);
    // The thread's code is evaluated as an ES module: it inherits --input-type=module.
    const thread = `
      const { parentPort, workerData } = await import('node:worker_threads');
      import(workerData.loader)
        .then(({ loadPipeline }) => loadPipeline(workerData.path))
        .then(async (pipeline) => parentPort.postMessage({ name: pipeline.name, work: await pipeline.work(5, {}) }), (error) => parentPort.postMessage({ error: error.message }));`;
    const script = `
      const { Worker } = await import('node:worker_threads');
      const worker = new Worker(${JSON.stringify(thread)}, { eval: true, workerData: { loader: ${JSON.stringify(pathToFileURL(loaderPath).href)}, path: ${JSON.stringify(path)} } });
      worker.once('message', (message) => { process.stdout.write(JSON.stringify(message)); void worker.terminate(); });`;
    expect(JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }))).toEqual({
      name: 'typed',
      work: 11,
    });
  });

  it('loads CommonJS whose module.exports, exports.default (as tsc writes it) or exports.pipeline is the pipeline', () => {
    const exportsCjs = file(join(typeless, 'exports.cjs'), `module.exports = ${body('cjs')};\n`);
    const tscOutput = file(
      join(typeless, 'tsc-output.js'),
      `"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = ${body('tsc')};\n`,
    );
    const named = file(join(typeless, 'named-pipeline.cjs'), `exports.pipeline = ${body('named')};\n`);
    expect(loadInNode([exportsCjs, tscOutput, named], 1)).toEqual([
      { name: 'cjs', work: 2, again: true },
      { name: 'tsc', work: 2, again: true },
      { name: 'named', work: 2, again: true },
    ]);
  });

  it('says in one line what is wrong and what to do', () => {
    const howTo = 'write `export default definePipeline(...)` in an ES module (a .mjs or .mts file, or "type": "module" in its package.json)';
    // tsc's output for `export const squares = definePipeline(...)`
    const named = file(
      join(typeless, 'named.js'),
      `"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.squares = void 0;\nexports.squares = ${body('squares')};\n`,
    );
    expect(failure(named)).toBe(`${named} exports no pipeline: it is a CommonJS module and its module.exports has squares; ${howTo}`);
    const empty = file(join(typeless, 'empty.cjs'), `module.exports = {};\n`);
    expect(failure(empty)).toBe(`${empty} exports no pipeline: it is a CommonJS module and its module.exports is empty; ${howTo}`);
    const typelessTs = file(join(typeless, 'no-default.ts'), `export const answer: number = 42;\n`);
    expect(failure(typelessTs)).toBe(`${typelessTs} exports no pipeline: it is a CommonJS module and its module.exports has answer; ${howTo}`);

    const noDefault = file(join(esm, 'no-default.mjs'), 'export const answer = 42;\n');
    expect(failure(noDefault)).toBe(`${noDefault} has no default export; ${howTo}`);

    const broken = file(join(esm, 'broken.ts'), 'export default { name: "x" split: 1 };\n');
    expect(failure(broken)).toMatch(new RegExp(`^cannot load pipeline module ${broken}: .*broken\\.ts:1:\\d+: ERROR: Expected`));

    const invalid = file(join(esm, 'invalid.mjs'), `export default { name: 'two words', split() {}, work() {} };\n`);
    expect(failure(invalid)).toMatch(/invalid\.mjs: name must be/);

    expect(failure(join(root, 'missing.ts'))).toMatch(/^cannot load pipeline module .*missing\.ts: /);
  });
});
