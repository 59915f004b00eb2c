import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { existingFiles, pathList } from './settings.js';

describe('a list of pipeline modules (JOBPIPE_PIPELINE)', () => {
  it('reads one path or several separated by commas, in order, spaces and empty items left out', () => {
    expect(pathList('a.js')).toEqual(['a.js']);
    expect(pathList(' a.js , b/c.mjs,, ')).toEqual(['a.js', 'b/c.mjs']);
    expect(pathList(' , ')).toEqual([]);
  });

  it('resolves each file, and refuses a missing one or none at all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobpipe-paths-'));
    for (const name of ['a.mjs', 'b.mjs']) writeFileSync(join(dir, name), '');
    expect(existingFiles(`${join(dir, 'a.mjs')}, ${join(dir, 'b.mjs')}`)).toBe(`${resolve(dir, 'a.mjs')},${resolve(dir, 'b.mjs')}`);
    expect(() => existingFiles(`${join(dir, 'a.mjs')},${join(dir, 'missing.mjs')}`)).toThrow(/no such file: .*missing\.mjs/);
    expect(() => existingFiles(',')).toThrow('no file given');
  });
});
