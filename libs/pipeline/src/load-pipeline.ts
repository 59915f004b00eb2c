import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertPipeline, PipelineError, type Pipeline } from './define-pipeline.js';

/** Extensions loaded through tsx: TypeScript without a build step. */
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

const ES_MODULE_HOWTO = 'write `export default definePipeline(...)` in an ES module (a .mjs or .mts file, or "type": "module" in its package.json)';

/**
 * Imports a pipeline module by file path: its default export (or an export named `pipeline`) must
 * be a pipeline definition. A `.ts`, `.mts` or `.cts` file is compiled on the fly by tsx (types are
 * stripped, not checked). A CommonJS module works when its `module.exports` (or, as compilers
 * write it, `exports.default`) is the pipeline. Throws PipelineError with the path, what is wrong
 * and what to do, in one line.
 */
export async function loadPipeline(path: string): Promise<Pipeline> {
  const absolute = resolve(path);
  let module: Record<string, unknown>;
  try {
    module = TYPESCRIPT.has(extname(absolute)) ? await importTypeScript(absolute) : ((await import(pathToFileURL(absolute).href)) as Record<string, unknown>);
  } catch (error) {
    throw new PipelineError(`cannot load pipeline module ${path}: ${oneLine(error)}${hint(error)}`);
  }
  const commonJs = isCommonJs(absolute);
  const candidate = pipelineExport(module, commonJs);
  if (commonJs && !looksLikePipeline(candidate)) {
    const exported = module.default;
    const keys = typeof exported === 'object' && exported !== null ? Object.keys(exported).filter((key) => key !== '__esModule') : [];
    const what = keys.length > 0 ? `has ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''}` : `is ${describe(exported)}`;
    throw new PipelineError(`${path} exports no pipeline: it is a CommonJS module and its module.exports ${what}; ${ES_MODULE_HOWTO}`);
  }
  if (candidate === undefined) throw new PipelineError(`${path} has no default export; ${ES_MODULE_HOWTO}`);
  assertPipeline(candidate, path);
  return candidate;
}

/**
 * The default export, else the export named `pipeline`. In CommonJS the default export is
 * `module.exports`: the pipeline itself, or an object holding it as `default` (what tsc, esbuild
 * and Babel write for `export default`, beside `__esModule`) or as `pipeline`.
 */
function pipelineExport(module: Record<string, unknown>, commonJs: boolean): unknown {
  const candidate = module.default ?? module.pipeline;
  if (typeof candidate !== 'object' || candidate === null || looksLikePipeline(candidate)) return candidate;
  const inner = candidate as Record<string, unknown>;
  if (inner.__esModule === true) return inner.default ?? inner.pipeline;
  if (commonJs) return inner.pipeline ?? candidate;
  return candidate;
}

function looksLikePipeline(value: unknown): boolean {
  return typeof value === 'object' && value !== null && ('split' in value || 'work' in value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'empty';
  return `a ${typeof value}`;
}

/**
 * Whether Node ran the file as CommonJS: `.cjs`/`.cts`, a file the CommonJS loader has in its
 * cache, or a `.ts` file that tsx compiles to CommonJS because its package is not "type": "module".
 */
function isCommonJs(absolute: string): boolean {
  const ext = extname(absolute);
  if (ext === '.cjs' || ext === '.cts') return true;
  if (ext === '.mjs' || ext === '.mts') return false;
  if (createRequire(import.meta.url).cache[absolute] !== undefined) return true;
  return ext === '.ts' && packageType(dirname(absolute)) !== 'module';
}

/** The "type" of the package.json nearest to `dir` (its package scope), or undefined. */
function packageType(dir: string): string | undefined {
  for (let current = dir; ; current = dirname(current)) {
    const file = join(current, 'package.json');
    if (existsSync(file)) {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as { type?: string }).type;
      } catch {
        return undefined;
      }
    }
    if (dirname(current) === current) return undefined;
  }
}

// tsx's tsImport gives each call a fresh copy of the module: keep one per file, as import() does.
const typeScriptModules = new Map<string, Promise<Record<string, unknown>>>();

function importTypeScript(absolute: string): Promise<Record<string, unknown>> {
  let module = typeScriptModules.get(absolute);
  if (module === undefined) {
    module = (async () => {
      let tsImport: (specifier: string, parent: string) => Promise<unknown>;
      try {
        ({ tsImport } = (await import('tsx/esm/api')) as unknown as { tsImport: typeof tsImport });
      } catch (error) {
        throw new Error(
          `tsx, which loads TypeScript pipelines, is not installed (${oneLine(error)}): reinstall @jobpipe/pipeline, or compile the pipeline to JavaScript`,
        );
      }
      return (await tsImport(pathToFileURL(absolute).href, import.meta.url)) as Record<string, unknown>;
    })();
    typeScriptModules.set(absolute, module);
    module.catch(() => typeScriptModules.delete(absolute));
  }
  return module;
}

/** An error's message on one line (esbuild's and Node's span several), at most 600 characters. */
function oneLine(error: unknown): string {
  const text = String((error as Error | undefined)?.message ?? error)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^\^+$/.test(line))
    .join(' ');
  return text.length > 600 ? `${text.slice(0, 600)}...` : text;
}

/** What to do about the load errors that come from mixing ES modules and CommonJS. */
function hint(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = String((error as Error | undefined)?.message ?? '');
  if (code === 'ERR_REQUIRE_ESM') return `; a CommonJS module cannot require() jobpipe's ES modules on this Node version: ${ES_MODULE_HOWTO}`;
  if (/Cannot use import statement outside a module|Unexpected token 'export'/.test(message)) {
    return '; the file uses ES module syntax but Node runs it as CommonJS: name it .mjs (.mts), or add "type": "module" to its package.json';
  }
  return '';
}
