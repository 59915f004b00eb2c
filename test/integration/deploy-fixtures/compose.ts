/**
 * Reading docker-compose.yml and the Dockerfile as Docker would, for the deploy-* tests: variable
 * interpolation (`${VAR:-default}`), YAML merge keys, the jobpipe services and what each reads,
 * and named volumes, which the tests stand in for with directories of their own.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { consoleSettings } from '@jobpipe/console/settings';
import { sinkSettings } from '@jobpipe/sink';
import { ventilatorSettings } from '@jobpipe/ventilator';
import { workerSettings } from '@jobpipe/worker';
import type { SettingsSpec } from '@jobpipe/config';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const composePath = resolve(repoRoot, 'docker-compose.yml');

/** Every setting each role reads, as the apps export them. */
export const roleSettings: Record<string, SettingsSpec> = {
  ventilator: ventilatorSettings,
  worker: workerSettings,
  sink: sinkSettings,
  console: consoleSettings,
};

export interface ComposeService {
  image?: string;
  build?: string | { context: string; target?: string };
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number; start_period?: string };
  restart?: string;
  stop_grace_period?: string;
  container_name?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [extension: `x-${string}`]: unknown;
}

/**
 * Compose's interpolation: `${VAR}`, `${VAR:-default}` (default when unset or empty),
 * `${VAR-default}` (default when unset), `$VAR`, and `$$` for a literal `$`.
 */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(
    /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_, body: string, name?: string, op?: string, fallback?: string, bare?: string) => {
      if (body === '$') return '$';
      const key = name ?? bare!;
      const value = env[key];
      if (op === ':-') return value === undefined || value === '' ? fallback! : value;
      if (op === '-') return value === undefined ? fallback! : value;
      return value ?? '';
    },
  );
}

/** docker-compose.yml as Compose reads it: interpolated with `env`, merge keys resolved. */
export function loadCompose(env: Record<string, string | undefined> = {}): ComposeFile {
  const raw = parse(readFileSync(composePath, 'utf8'), { merge: true }) as ComposeFile;
  // Interpolate every string value (Compose interpolates values, not keys).
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') return interpolate(value, env);
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, walk(inner)]));
    return value;
  };
  return walk(raw) as ComposeFile;
}

/**
 * The console's services (docs/console.md): the console itself and the one-shot that writes its
 * tokens. The pipeline's services below leave them out unless asked (`{ console: true }`): the
 * compose rehearsal (deploy-rehearsal.test.ts) runs the pipeline without them, the console being
 * tested elsewhere; deploy-compose.test.ts checks them with the rest.
 */
export const CONSOLE_SERVICES: readonly string[] = ['console', 'console-tokens'];

export interface ServiceChoice {
  /** Include the console's services (CONSOLE_SERVICES). */
  console?: boolean;
}

/** The services built from this repository's Dockerfile: the jobpipe roles and the one-shot `keys` (and, asked, the console's). */
export function jobpipeServices(compose: ComposeFile, choice: ServiceChoice = {}): [string, ComposeService][] {
  return Object.entries(compose.services).filter(
    ([name, service]) => service.build !== undefined && (choice.console === true || !CONSOLE_SERVICES.includes(name)),
  );
}

/** The jobpipe services that run a role (`command: [role]`): the long-running ones (with the console, asked). */
export function roleServices(compose: ComposeFile, choice: ServiceChoice = {}): [string, ComposeService][] {
  return jobpipeServices(compose, choice).filter(([, service]) => service.command?.length === 1 && roleSettings[service.command[0]!] !== undefined);
}

/** The Dockerfile's target that builds the Python worker's image (workers/python). */
export const PYTHON_WORKER_TARGET = 'python-worker';

/** Whether a service runs the Python worker: built from the Dockerfile's python-worker target. */
export function isPythonWorker(service: ComposeService): boolean {
  return typeof service.build === 'object' && service.build.target === PYTHON_WORKER_TARGET;
}

/** The role a jobpipe role service runs: its command's one word (ventilator, sink, worker). */
export function roleOf(service: ComposeService): string {
  return service.command![0]!;
}

/** The worker pools: every service that runs workers, the TypeScript worker role or the Python worker. */
export function workerPools(compose: ComposeFile): [string, ComposeService][] {
  return Object.entries(compose.services).filter(
    ([, service]) => isPythonWorker(service) || (service.build !== undefined && service.command?.length === 1 && service.command[0] === 'worker'),
  );
}

/**
 * The settings the Python worker reads: the JOBPIPE_* names in workers/python's config.py, a CURVE
 * key's NAME_FILE form with each (its _curve_key reads both).
 */
export function pythonWorkerEnv(): Set<string> {
  const source = readFileSync(resolve(repoRoot, 'workers/python/jobpipe_worker/config.py'), 'utf8');
  const names = new Set([...source.matchAll(/"(JOBPIPE_[A-Z0-9_]+)"/g)].map((match) => match[1]!));
  for (const name of [...names]) if (name.startsWith('JOBPIPE_CURVE_')) names.add(`${name}_FILE`);
  return names;
}

/** A JOBPIPE_PIPELINE value's modules, in order: one path, or several separated by commas. */
export function pipelineModules(value: string): string[] {
  return value.split(',').map((part) => part.trim());
}

/** The jobpipe service that runs `jobpipe keys` (its command's first word), if there is one. */
export function keysService(compose: ComposeFile): [string, ComposeService] | undefined {
  return jobpipeServices(compose).find(([, service]) => !isPythonWorker(service) && service.entrypoint === undefined && service.command?.[0] === 'keys');
}

export interface VolumeMount {
  volume: string;
  target: string;
  readOnly: boolean;
}

/** A service's mounts of the file's named volumes (`volume:target[:ro|rw]`); bind mounts are left out. */
export function volumeMounts(compose: ComposeFile, service: ComposeService): VolumeMount[] {
  return (service.volumes ?? [])
    .map((spec) => String(spec).split(':'))
    .filter(([source]) => Object.hasOwn(compose.volumes ?? {}, source!))
    .map(([volume, target, mode]) => ({ volume: volume!, target: target!, readOnly: (mode ?? '').split(',').includes('ro') }));
}

/**
 * A path inside a service's container as a path here: under a mounted named volume, the same path
 * in that volume's stand-in directory (`volumeDirs`, by volume name), the innermost mount holding
 * it when mounts nest (the keys service's /keys/worker inside /keys); elsewhere, `hostPath`.
 */
export function containerPathHere(path: string, mounts: VolumeMount[], volumeDirs: Record<string, string>): string {
  // A list of paths (JOBPIPE_PIPELINE of a role serving several pipelines): each one mapped.
  if (path.includes(','))
    return pipelineModules(path)
      .map((part) => containerPathHere(part, mounts, volumeDirs))
      .join(',');
  const holding = mounts.filter((mount) => path === mount.target || path.startsWith(`${mount.target}/`)).sort((a, b) => b.target.length - a.target.length);
  const mount = holding[0];
  if (mount === undefined) return hostPath(path);
  const dir = volumeDirs[mount.volume];
  if (dir === undefined) throw new Error(`no stand-in directory for volume ${mount.volume}`);
  return resolve(dir, `.${path.slice(mount.target.length)}`);
}

/**
 * Mounts that nest, as Docker makes them for a service: a volume mounted below another one's
 * mount point (the keys service's curve-worker at /keys/worker, inside curve-keys at /keys) shows
 * in the outer volume at that path. Here: a symbolic link there, in the outer volume's stand-in, to
 * the inner one's, so that what a process writes through the outer path lands in the inner volume.
 * Call it before running the service's command.
 */
export function nestMounts(mounts: VolumeMount[], volumeDirs: Record<string, string>): void {
  for (const inner of mounts) {
    const outer = mounts
      .filter((candidate) => candidate !== inner && inner.target.startsWith(`${candidate.target}/`))
      .sort((a, b) => b.target.length - a.target.length)[0];
    if (outer === undefined) continue;
    const at = resolve(volumeDirs[outer.volume]!, `.${inner.target.slice(outer.target.length)}`);
    if (existsSync(at) || isLink(at)) continue;
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(volumeDirs[inner.volume]!, at, 'dir');
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * The files of a volume's stand-in directory, by path relative to it, with their text and mode:
 * what a container that mounts the volume can read. A nested mount point (a link, see nestMounts)
 * is another volume's and is left out; directories of the volume itself are walked.
 */
export function volumeFiles(dir: string): Map<string, { text: string; mode: number }> {
  const files = new Map<string, { text: string; mode: number }>();
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(dir, relative)).sort()) {
      const path = relative === '' ? entry : `${relative}/${entry}`;
      if (isLink(join(dir, path))) continue;
      const stat = statSync(join(dir, path));
      if (stat.isDirectory()) walk(path);
      else files.set(path, { text: readFileSync(join(dir, path), 'utf8'), mode: stat.mode & 0o777 });
    }
  };
  walk('');
  return files;
}

/** Parses a Compose duration ("40s", "1m30s", "250ms") into milliseconds. */
export function durationMs(text: string): number {
  let total = 0;
  let rest = text.trim();
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ms|us|h|m|s)/.exec(rest);
    if (!match) throw new Error(`not a duration: ${text}`);
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return total;
}

export interface Dockerfile {
  stages: { from: string; name?: string; instructions: { keyword: string; args: string }[] }[];
}

/** The Dockerfile's stages and instructions (continuation lines joined, comments dropped). */
export function readDockerfile(): Dockerfile {
  const text = readFileSync(resolve(repoRoot, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages: Dockerfile['stages'] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(trimmed) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const [from, as, name] = args.split(/\s+/);
      stages.push({ from: from!, ...(as?.toUpperCase() === 'AS' ? { name } : {}), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' ') });
    }
  }
  return { stages };
}

/** The image's ENTRYPOINT (`node /app/cli/dist/main.js`) as a command here: this Node, this checkout's CLI. */
export function entrypointHere(): string[] {
  const entrypoint = JSON.parse(
    readDockerfile()
      .stages.at(-1)!
      .instructions.filter((instruction) => instruction.keyword === 'ENTRYPOINT')
      .at(-1)!.args,
  ) as string[];
  if (entrypoint[0] !== 'node') throw new Error(`the image's entrypoint is not node: ${entrypoint.join(' ')}`);
  return [process.execPath, ...entrypoint.slice(1).map(hostPath)];
}

/** The image's WORKDIR: where the repository's built files live inside it. */
export const imageRoot = '/app';

/** A path inside the image, as a path in this checkout (the image holds the same built tree). */
export function hostPath(containerPath: string): string {
  return containerPath === imageRoot || containerPath.startsWith(`${imageRoot}/`)
    ? resolve(repoRoot, `.${containerPath.slice(imageRoot.length)}`)
    : containerPath;
}
