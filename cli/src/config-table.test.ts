import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allSettingsTable } from './config-table.js';

describe('README configuration table', () => {
  it('is what the settings say (regenerate with: node scripts/config-table.mjs --write)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme)?.[1];
    expect(table).toBe(allSettingsTable());
  });
});
