import { describe, expect, it } from 'vitest';
import { formatEta, plural, renderTop, screenFrame, TERM } from './render.js';
import type { TopView } from './top-model.js';

function view(overrides: Partial<TopView> = {}): TopView {
  return {
    at: Date.UTC(2025, 0, 1, 12, 0, 5),
    targets: [{ url: 'http://127.0.0.1:9401/metrics', ok: true }],
    throughput: 1234.4,
    history: [1, 2, 3],
    inFlight: 10,
    workersConnected: 1,
    redelivered: 0,
    deadLettered: 0,
    batchesOpen: 1,
    batchDone: 500,
    batchExpected: 1000,
    etaSeconds: 42.3,
    fairness: 1,
    workers: [{ id: 'worker-1', rate: 1234.4, busy: 2, slots: 2 }],
    ...overrides,
  };
}

describe('plural', () => {
  it('counts one thing in the singular and every other count in the plural', () => {
    expect(plural(1, 'target')).toBe('1 target');
    expect(plural(0, 'target')).toBe('0 targets');
    expect(plural(2, 'target')).toBe('2 targets');
    expect(plural(1, 'batch', 'batches')).toBe('1 batch');
    expect(plural(1500, 'batch', 'batches')).toBe('1,500 batches');
  });
});

describe('formatEta', () => {
  it.each([
    [0.2, '1 s'],
    [8.3, '9 s'],
    [24, '25 s'],
    [33, '35 s'],
    [58, '1 min'],
    [80, '1 min 20 s'],
    [149, '2 min 30 s'],
    [599, '10 min'],
    [840, '14 min'],
    [3599, '1 h'],
    [7520, '2 h 5 min'],
  ])('%d s reads %s', (seconds, text) => {
    expect(formatEta(seconds)).toBe(text);
  });
});

describe('renderTop', () => {
  it('says "1 target", "2 targets" and "1 batch open" as English does', () => {
    expect(renderTop(view())[0]).toContain('  1 target');
    expect(renderTop(view())[0]).not.toContain('1 targets');
    const two = view({
      targets: [
        { url: 'a', ok: true },
        { url: 'b', ok: false },
      ],
      batchesOpen: 2,
    });
    expect(renderTop(two)[0]).toContain('2 targets, 1 not answering');
    expect(renderTop(view()).join('\n')).toContain('(1 batch open)');
    expect(renderTop(two).join('\n')).toContain('(2 batches open)');
    expect(renderTop(view({ batchExpected: 0, batchesOpen: 1 })).join('\n')).toContain('1 batch open, splitting');
  });

  it('shows the ETA rounded, and none when there is none', () => {
    expect(renderTop(view()).join('\n')).toMatch(/500\/1,000 50\.0% +[█░]+ {2}ETA 40 s {2}\(1 batch open\)/);
    expect(renderTop(view({ etaSeconds: null })).join('\n')).not.toContain('ETA');
  });

  it('says "(q quits)" only when asked to (a live view whose keys are read)', () => {
    expect(renderTop(view())[0]).toBe('jobpipe top  12:00:05  1 target');
    expect(renderTop(view(), { quitHint: true })[0]).toBe('jobpipe top  12:00:05  1 target   (q quits)');
  });
});

describe('screenFrame', () => {
  it('draws over the last frame: home, each line cleared to its end, the rest of the screen cleared, no full clear', () => {
    const frame = screenFrame(['one', 'two'], { columns: 80, rows: 24 });
    expect(frame).toBe(`${TERM.home}one${TERM.clearLineEnd}\r\ntwo${TERM.clearLineEnd}${TERM.clearScreenEnd}`);
    expect(frame).not.toContain(TERM.clearScreen);
  });

  it('cuts lines to the width and the frame to the height, so nothing wraps or scrolls', () => {
    const frame = screenFrame(['x'.repeat(30), 'b', 'c', 'd', 'e'], { columns: 10, rows: 3 });
    const lines = frame.slice(TERM.home.length, -TERM.clearScreenEnd.length).split(`${TERM.clearLineEnd}\r\n`);
    expect(lines).toEqual(['x'.repeat(9), 'b', `(3 more l${TERM.clearLineEnd}`]);
    expect(screenFrame(['a', 'b', 'c', 'd', 'e'], { columns: 80, rows: 3 })).toContain('(3 more lines: a taller terminal shows them)');
  });

  it('cuts nothing on a terminal that does not say its size', () => {
    expect(screenFrame(['x'.repeat(300)], { columns: 0, rows: 0 })).toContain('x'.repeat(300));
  });
});
