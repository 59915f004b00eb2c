import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

/** One configuration value: read from `env`, overridden by `--flag`, parsed and checked at start. */
export interface Setting<T = unknown> {
  /** Environment variable, e.g. `JOBPIPE_METRICS_PORT`. */
  env: string;
  /** Long CLI flag without dashes, e.g. `metrics-port`. */
  flag: string;
  /** One line for --help and the README's configuration table. */
  description: string;
  /** Value when neither env nor flag is given; absent means the setting is required. */
  default?: T;
  /** How docs show the default when its value depends on the machine or on other settings. */
  defaultText?: string;
  /** Turns the raw text into a value, or throws an Error whose message says what is wrong. */
  parse: (raw: string) => T;
}

/** Shorthand to build a typed setting. */
export function setting<T>(spec: Setting<T>): Setting<T> {
  return spec;
}

export function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`"${raw}" is not an integer`);
    const value = Number(raw);
    if (value < min || value > max) throw new Error(`${value} is outside ${min}..${max}`);
    return value;
  };
}

export function port(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new Error(`"${raw}" is not a port number`);
  const value = Number(raw);
  if (value > 65535) throw new Error(`${value} is not a port (0-65535)`);
  return value;
}

const ZMQ_TCP = /^tcp:\/\/(\*|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5}|\*)$/;
const ZMQ_OTHER = /^(ipc|inproc):\/\/.+$/;

/** A ZeroMQ endpoint (`tcp://host:port`, `ipc://path`, `inproc://name`). */
export function endpoint(raw: string): string {
  const value = raw.trim();
  const tcp = ZMQ_TCP.exec(value);
  if (tcp) {
    if (tcp[2] !== '*' && Number(tcp[2]) > 65535) throw new Error(`port ${tcp[2]} of "${value}" is out of range`);
    return value;
  }
  if (ZMQ_OTHER.test(value)) return value;
  throw new Error(`"${raw}" is not a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)`);
}

/** A file's text, read at start; the error names the path and the reason (ENOENT, EACCES). */
export function readTextFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** An existing file, returned as an absolute path. */
export function existingFile(raw: string): string {
  const path = resolve(raw.trim());
  if (!existsSync(path) || !statSync(path).isFile()) throw new Error(`no such file: ${path}`);
  return path;
}

/** The paths of a comma-separated list (JOBPIPE_PIPELINE for a role serving several pipelines), in its order. */
export function pathList(raw: string): string[] {
  return raw
    .split(',')
    .map((path) => path.trim())
    .filter((path) => path !== '');
}

/** One or more existing files, separated by commas: given back resolved, joined by commas. */
export function existingFiles(raw: string): string {
  const paths = pathList(raw);
  if (paths.length === 0) throw new Error('no file given');
  return paths.map(existingFile).join(',');
}

export function oneOf<T extends string>(...values: T[]): (raw: string) => T {
  return (raw) => {
    const value = raw.trim() as T;
    if (!values.includes(value)) throw new Error(`"${raw}" is not one of ${values.join(', ')}`);
    return value;
  };
}

export function nonEmpty(raw: string): string {
  const value = raw.trim();
  if (value === '') throw new Error('is empty');
  return value;
}

export function json(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new Error(`is not JSON: ${(error as Error).message}`);
  }
}

export function boolean(raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new Error(`"${raw}" is not a boolean (true/false)`);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as text: `90s`, `30m`, `24h`, `7d`, `500ms`, or a plain number of milliseconds. */
const DURATION = /^(\d+)\s*(ms|s|m|h|d)?$/;

/**
 * A duration, in milliseconds: a whole number with a unit (`ms`, `s`, `m`, `h`, `d`: `90s`,
 * `30m`, `24h`, `7d`) or without one (milliseconds), from `minMs` to `maxMs`.
 */
export function duration(minMs: number, maxMs: number): (raw: string) => number {
  return (raw) => {
    const match = DURATION.exec(raw.trim().toLowerCase());
    if (!match) throw new Error(`"${raw}" is not a duration (e.g. 90s, 30m, 24h, 7d, or milliseconds)`);
    const value = Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']!;
    if (!Number.isSafeInteger(value) || value < minMs || value > maxMs)
      throw new Error(`${raw.trim()} is outside ${formatDuration(minMs)}..${formatDuration(maxMs)}`);
    return value;
  };
}

/** A duration in milliseconds as the shortest text `duration` reads back (`86400000` -> `1d`, `1500` -> `1500ms`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A Redis URL: redis:// or rediss:// (TLS), with optional user, password and database. */
export function redisUrl(raw: string): string {
  const value = raw.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('is not a URL (expected redis://[user:password@]host[:port][/db])');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`scheme ${url.protocol} is not redis: or rediss:`);
  if (!url.hostname) throw new Error('has no host');
  return value;
}

/** A Redis key prefix: letters, digits and `._:-`. */
export function keyPrefix(raw: string): string {
  const value = raw.trim();
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(value)) throw new Error(`"${raw}" may only hold letters, digits and . _ : - (1-64 of them)`);
  return value;
}
