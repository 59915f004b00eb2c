import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { completeKeys, LedgerKeys, retryDeadKeys, type BatchKeys } from './keys.js';
import { withIncludes } from './scripts.js';

/** The part of a key Redis Cluster hashes: its first non-empty `{...}`, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

const keys = new LedgerKeys('jp');
const batchKeys = (id: string) => Object.values(keys.batch(id)) as string[];

describe('LedgerKeys', () => {
  it("puts every key of a batch in one hash slot: the batch id's tag", () => {
    for (const id of ['b1', 'primes-m4x2-0a1b2c3d', 'a.b_c-d']) {
      expect(batchKeys(id).map(hashTag)).toEqual(batchKeys(id).map(() => id));
    }
    // The call keys are the `calls` prefix plus a name: the same tag.
    expect(hashTag(`${keys.batch('b1').calls}abc-1`)).toBe('b1');
  });

  it("keeps the keys that are not a batch's out of every batch's slot, and every key under the prefix", () => {
    for (const key of [keys.batches, keys.expiring, keys.active('primes'), keys.pipelines]) expect(key).not.toMatch(/[{}]/);
    for (const key of [...batchKeys('b1'), keys.batches, keys.expiring, keys.active('primes'), keys.pipelines]) expect(key.startsWith('jp:')).toBe(true);
  });

  it('gives the scripts that expire or keep a batch every key of it, the record calls aside', () => {
    const all = Object.entries(keys.batch('b1'))
      .filter(([part]) => part !== 'calls')
      .map(([, key]) => key)
      .sort();
    expect([...completeKeys(keys.batch('b1'))].sort()).toEqual(all);
    expect([...retryDeadKeys(keys.batch('b1'))].sort()).toEqual(all);
  });

  it("tags each pipeline's BullMQ intake queue, so BullMQ's keys of one queue share a slot", () => {
    // BullMQ builds `<prefix>:<queue>:<part>`.
    const queue = LedgerKeys.intakeQueue('primes');
    expect([`jp:${queue}:wait`, `jp:${queue}:b1:lock`].map(hashTag)).toEqual(['intake-primes', 'intake-primes']);
  });
});

const commandsDir = new URL('../commands/', import.meta.url);
const commands = readdirSync(commandsDir)
  .filter((file) => /-\d+\.lua$/.test(file))
  .map((file) => ({ file, lua: readFileSync(new URL(file, commandsDir), 'utf8') }));

describe('the Lua commands on a Redis Cluster', () => {
  // What each KEYS[n] of a command is, as its header says (`KEYS[1] inflight ...`). The key groups
  // that share a hash tag: the parts of one batch (BatchKeys, and `call` of record-9), a
  // pipeline's single jobs (JobStreamKeys, as the scripts name them), and its rate-limit tokens.
  const groups = {
    batch: new Set<string>([...(Object.keys(keys.batch('b')) as (keyof BatchKeys)[]), 'call']),
    jobs: new Set<string>(['stream', 'buckets', 'delayed', 'keys', 'keyTimes']),
    controls: new Set<string>(['rateTokens']),
  };
  it('names the job keys of a pipeline with one hash tag of its own, and its controls with another', () => {
    const jobs = keys.jobs('primes');
    expect(new Set(Object.values(jobs).map(hashTag))).toEqual(new Set(['jobs-primes']));
    expect([keys.controls('primes'), keys.rateTokens('primes')].map(hashTag)).toEqual(['controls-primes', 'controls-primes']);
  });

  it.each(commands)("$file takes only keys of one group (one batch, or one pipeline's jobs or controls), as many as its name says", ({ file, lua }) => {
    const header = /--\[\[([\s\S]*?)\]\]/.exec(lua)![1]!;
    const declared = [...header.matchAll(/KEYS\[(\d+)\][ \t]+(\w+)/g)].map((match) => [Number(match[1]), match[2]!] as const);
    const count = Number(/-(\d+)\.lua$/.exec(file)![1]);
    expect(declared.map(([n]) => n)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    const group = Object.values(groups).find((parts) => parts.has(declared[0]![1]));
    expect(group, `${file}: KEYS ${declared[0]![1]}`).toBeDefined();
    for (const [, part] of declared) expect(group, `${file}: KEYS ${part}`).toContain(part);
  });

  it.each(commands)('$file builds no key name in Lua: every key it calls Redis with is one of KEYS', ({ lua }) => {
    const code = withIncludes(lua).replace(/--\[\[[\s\S]*?\]\]/g, '');
    const fromKeys = new Set<string>();
    for (const match of code.matchAll(/local ([\w, ]+) = (KEYS\[\d+\](?:, KEYS\[\d+\])*)/g)) for (const name of match[1]!.split(',')) fromKeys.add(name.trim());
    for (const [, command, key] of code.matchAll(/redis\.call\('(\w+)',\s*([^,)]+)/g)) {
      // KEYS[i]: a loop over every key (`for i = 1, #KEYS do`).
      expect(/^KEYS\[(\d+|i)\]$/.test(key!.trim()) || fromKeys.has(key!.trim()), `${command} ${key}`).toBe(true);
    }
  });

  it('shares the entry parsing as one included fragment', () => {
    const users = commands.filter(({ lua }) => lua.includes('--- @include "split-entry"')).map(({ file }) => file);
    expect(users.sort()).toEqual(['record-9.lua', 'retry-dead-10.lua', 'take-due-6.lua']);
    for (const { file, lua } of commands) {
      const full = withIncludes(lua);
      expect(full, file).not.toMatch(/@include/);
      expect(full.match(/local function splitEntry/g)?.length ?? 0, file).toBe(users.includes(file) ? 1 : 0);
      // No command parses an entry by hand any more.
      expect(lua, file).not.toMatch(/string\.find\([^)]*'\|'/);
    }
  });
});
