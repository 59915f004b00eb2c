import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { cliReference } from './cli-docs.js';
import { buildProgram } from './program.js';

describe('docs/cli.md', () => {
  const reference = cliReference(buildProgram());

  it('is what the program says (regenerate with: npm run build && node scripts/cli-docs.mjs --write)', () => {
    const docs = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
    expect(docs).toBe(reference);
  });

  it('names every command and every option of every command, with the env var of each setting', () => {
    const every = (command: Command, path: string[]): [Command, string][] => [
      [command, path.join(' ')],
      ...command.commands.flatMap((sub) => every(sub, [...path, sub.name()])),
    ];
    for (const [command, path] of every(buildProgram(), ['jobpipe']).slice(1)) {
      expect(reference).toContain(`\n## ${path}\n`);
      for (const option of command.options) expect(reference).toContain(`| \`${option.flags}\` |`);
    }
    for (const text of [
      '`--priority <value>`',
      '`--batch-id <value>`',
      '`--limit <n>`',
      '`--once`',
      '`--interval-ms <ms>`',
      '`--keep`',
      '`JOBPIPE_DEMO_WORKERS`',
      'JOBPIPE_TOP_TARGETS',
      '`-V, --version`',
    ]) {
      expect(reference).toContain(text);
    }
  });
});
