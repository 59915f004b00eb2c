import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WireErrorName } from './wire-error-name.js';

describe('WireErrorName', () => {
  it('keeps the names on the wire: each value is its key, unchanged (renaming one is a breaking change)', () => {
    expect(WireErrorName).toStrictEqual({
      WorkerLost: 'WorkerLost',
      LeaseExpired: 'LeaseExpired',
      DeadLetter: 'DeadLetter',
      ResultTooLarge: 'ResultTooLarge',
      WrongPipeline: 'WrongPipeline',
      Cancelled: 'Cancelled',
      TimeoutError: 'TimeoutError',
      ResultUnstorable: 'ResultUnstorable',
      JobTooLarge: 'JobTooLarge',
    });
  });

  it('is listed in PROTOCOL.md, every name and nothing more', () => {
    const doc = readFileSync(new URL('../PROTOCOL.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('#### Error names jobpipe writes'));
    const rows = [...section.slice(0, section.indexOf('\n\n', section.indexOf('|'))).matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(rows).toEqual(Object.values(WireErrorName));
  });
});
