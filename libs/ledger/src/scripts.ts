import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Bumped when any script changes, so two versions of jobpipe can share one Redis during an upgrade. */
export const SCRIPTS_VERSION = 8;
const commandsDir = new URL('../commands/', import.meta.url);

/** What the Lua commands look like once registered on an ioredis client. */
export interface LedgerCommands {
  jobpipeAdmit(...args: (string | number)[]): Promise<string[]>;
  jobpipeRecord(...args: (string | number)[]): Promise<[string, string, string, string | null, string | null, string | null]>;
  jobpipeTakeDue(...args: (string | number)[]): Promise<(string | number)[]>;
  jobpipeExpirePacks(...args: (string | number)[]): Promise<number>;
  jobpipeFilterNew(...args: (string | number)[]): Promise<string[]>;
  jobpipeComplete(...args: (string | number)[]): Promise<number>;
  jobpipeRetryDead(...args: (string | number)[]): Promise<number>;
  jobpipePurgeDead(...args: (string | number)[]): Promise<number>;
  jobpipeRelease(...args: (string | number)[]): Promise<number>;
}

/**
 * Registers every `commands/<name>-<numberOfKeys>.lua` on the client as `jobpipe<Name>`. ioredis
 * sends EVALSHA and falls back to EVAL once after a Redis restart flushed the script cache.
 */
export function registerScripts(redis: Redis): Redis & LedgerCommands {
  for (const file of readdirSync(commandsDir)) {
    const match = /^([a-z-]+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    const name = `jobpipe${match[1]!.replace(/(^|-)([a-z])/g, (_, _dash: string, letter: string) => letter.toUpperCase())}`;
    if (name in redis) continue;
    const lua = `-- jobpipe scripts v${SCRIPTS_VERSION}\n${readFileSync(new URL(file, commandsDir), 'utf8')}`;
    redis.defineCommand(name, { numberOfKeys: Number(match[2]), lua });
  }
  return redis as Redis & LedgerCommands;
}
