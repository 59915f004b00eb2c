import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram, cliVersion } from './program.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

describe('jobpipe --version', () => {
  it("is the cli package's version", () => {
    expect(cliVersion()).toBe(version);
    expect(buildProgram().version()).toBe(version);
  });

  it('prints it and exits 0 (the bin, -V too)', () => {
    const bin = fileURLToPath(new URL('../bin/jobpipe.js', import.meta.url));
    for (const flag of ['--version', '-V']) {
      const run = spawnSync(process.execPath, [bin, flag], { encoding: 'utf8' });
      expect(run.status).toBe(0);
      expect(run.stdout).toBe(`${version}\n`);
    }
  });
});
