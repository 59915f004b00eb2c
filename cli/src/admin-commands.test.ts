import { describe, expect, it } from 'vitest';
import { ProgressLines } from './admin-commands.js';

describe('ProgressLines (submit --wait into a log or a pipe)', () => {
  it('prints the first line, then a changed line every 5 s at most, and the last one at the end', () => {
    let now = 0;
    const printed: string[] = [];
    const lines = new ProgressLines(
      (line) => printed.push(`${now}: ${line}`),
      5000,
      () => now,
    );
    // A 78 s batch polled twice a second, its progress changing at every poll.
    for (let done = 0; done <= 156; done++, now += 500) lines.update(`${done}/156`);
    lines.flush();
    expect(printed[0]).toBe('0: 0/156');
    expect(printed.at(-1)).toMatch(/: 156\/156$/);
    expect(printed.length).toBeLessThanOrEqual(2 + 78 / 5);
    for (let i = 1; i < printed.length - 1; i++) expect(Number(printed[i]!.split(':')[0]) - Number(printed[i - 1]!.split(':')[0])).toBeGreaterThanOrEqual(5000);
  });

  it('prints nothing twice, and nothing at the end when the last line is out', () => {
    let now = 0;
    const printed: string[] = [];
    const lines = new ProgressLines(
      (line) => printed.push(line),
      5000,
      () => now,
    );
    lines.update('queued');
    now = 6000;
    lines.update('queued');
    lines.update('running 1/2');
    now = 7000;
    lines.update('running 1/2');
    lines.flush();
    expect(printed).toEqual(['queued', 'running 1/2']);
  });
});
