import { readdirSync, readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/**
 * Bumped when any script or the key layout changes, so two versions of jobpipe can share one Redis
 * during an upgrade. 9: the keys of a batch share its hash tag (keys.ts, layout 2); complete and
 * retry-dead no longer touch the pipeline's active set. 10: complete gives every key of the batch
 * its retention, retry-dead takes it away again. 11: cancel; record, admit and take-due skip
 * what was cancelled, complete counts it. 12: record keeps the highest seq recorded before the
 * total is known, end-batch removes the results past the end.
 */
export const SCRIPTS_VERSION = 12;
const commandsDir = new URL('../commands/', import.meta.url);
const includesDir = new URL('includes/', commandsDir);

/** `--- @include "name"` on a line of its own: replaced by `commands/includes/<name>.lua` (BullMQ's notation). */
const INCLUDE = /^--- @include "([a-z-]+)"$/gm;

/** A command's Lua with its includes in place, each once. */
export function withIncludes(lua: string, included = new Set<string>()): string {
  return lua.replace(INCLUDE, (_, name: string) => {
    if (included.has(name)) return `-- (${name}: included above)`;
    included.add(name);
    return withIncludes(readFileSync(new URL(`${name}.lua`, includesDir), 'utf8').trimEnd(), included);
  });
}

/** What the Lua commands look like once registered on an ioredis client. */
export interface LedgerCommands {
  jobpipeAdmit(...args: (string | number | Buffer)[]): Promise<string[]>;
  jobpipeRecord(...args: (string | number)[]): Promise<[string, string, string, string | null, string | null, string | null, string, string | null]>;
  jobpipeCancel(...args: (string | number)[]): Promise<[string, number]>;
  jobpipeBegin(...args: (string | number)[]): Promise<[number, string[]]>;
  jobpipeEndBatch(...args: (string | number)[]): Promise<number>;
  jobpipeTakeDue(...args: (string | number)[]): Promise<(string | number)[]>;
  jobpipeExpirePacks(...args: (string | number)[]): Promise<number>;
  jobpipeFilterNew(...args: (string | number)[]): Promise<string[]>;
  jobpipeComplete(...args: (string | number)[]): Promise<[number, number]>;
  jobpipeRetryDead(...args: (string | number)[]): Promise<number>;
  jobpipePurgeDead(...args: (string | number)[]): Promise<number>;
  jobpipeRelease(...args: (string | number)[]): Promise<number>;
  jobpipeAddJobs(...args: (string | number)[]): Promise<(string | number)[]>;
  jobpipeCloseBuckets(...args: (string | number)[]): Promise<number>;
  jobpipeTakeTokens(...args: (string | number)[]): Promise<number>;
  jobpipePromoteDelayed(...args: (string | number)[]): Promise<number>;
}

/** A client of one Redis server or of a Redis Cluster: both take the same commands. */
export type RedisClient = Redis | Cluster;

/**
 * Registers every `commands/<name>-<numberOfKeys>.lua` on the client as `jobpipe<Name>`, with the
 * shared fragments of `commands/includes` it names put in. ioredis sends EVALSHA and falls back to
 * EVAL once after a Redis restart flushed the script cache (on a cluster, on each node).
 */
export function registerScripts<C extends RedisClient>(redis: C): C & LedgerCommands {
  for (const file of readdirSync(commandsDir)) {
    const match = /^([a-z-]+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    const name = `jobpipe${match[1]!.replace(/(^|-)([a-z])/g, (_, _dash: string, letter: string) => letter.toUpperCase())}`;
    if (name in redis) continue;
    const lua = `-- jobpipe scripts v${SCRIPTS_VERSION}\n${withIncludes(readFileSync(new URL(file, commandsDir), 'utf8'))}`;
    redis.defineCommand(name, { numberOfKeys: Number(match[2]), lua });
  }
  return redis as C & LedgerCommands;
}
