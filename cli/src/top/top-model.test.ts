import { describe, expect, it } from 'vitest';
import { etaSeconds, ProgressRate, TopModel } from './top-model.js';

/** A sink's /metrics at a moment: the open batch's progress and what each worker has recorded. */
function sinkPage(done: number, expected: number, byWorker: Record<string, number>): string {
  return [
    `jobpipe_batch_jobs_done{pipeline="echo"} ${done}`,
    `jobpipe_batch_jobs_expected{pipeline="echo"} ${expected}`,
    `jobpipe_batches_open{pipeline="echo"} 1`,
    ...Object.entries(byWorker).map(([worker, count]) => `jobpipe_jobs_completed_total{pipeline="echo",worker="${worker}"} ${count}`),
    '',
  ].join('\n');
}

describe('ProgressRate', () => {
  it('is the pace over the window, not over the last interval', () => {
    const rate = new ProgressRate(30_000);
    expect(rate.add(0, 0)).toBeNull();
    // Results arrive in packs: 0, 200, 0, 200... jobs a second, 100 jobs/s on average.
    let done = 0;
    let last: number | null = null;
    for (let second = 1; second <= 60; second++) {
      done += second % 2 === 0 ? 200 : 0;
      last = rate.add(second * 1000, done);
      if (second >= 10) expect(last!).toBeGreaterThan(85), expect(last!).toBeLessThan(115);
    }
    expect(last).toBeCloseTo(100, 0);
  });

  it('follows a real change of pace within the window', () => {
    const rate = new ProgressRate(30_000);
    let done = 0;
    for (let second = 0; second <= 60; second++) rate.add(second * 1000, (done += 100));
    let now = 0;
    for (let second = 61; second <= 100; second++) now = rate.add(second * 1000, (done += 300))!;
    // 40 s at 300 jobs/s: the 30 s window holds only the new pace.
    expect(now).toBeCloseTo(300, 0);
  });

  it('starts again when the count falls (a batch closed, the sink not answering)', () => {
    const rate = new ProgressRate(30_000);
    rate.add(0, 0);
    rate.add(1000, 5000);
    expect(rate.add(2000, 0)).toBeNull();
    expect(rate.add(3000, 50)).toBe(50);
  });
});

describe('etaSeconds', () => {
  it('is what remains over the rate, or null when nothing remains or nothing moves', () => {
    expect(etaSeconds(1000, 100)).toBe(10);
    expect(etaSeconds(0, 100)).toBeNull();
    expect(etaSeconds(1000, 0)).toBeNull();
    expect(etaSeconds(1000, null)).toBeNull();
  });
});

describe('TopModel', () => {
  it('gives an ETA that holds steady while the rate of each interval jumps', async () => {
    // 10,000 jobs; per interval the sink records 50, 300, 100, 250, ... (175 a second on average).
    const steps = [50, 300, 100, 250];
    let done = 0;
    let page = sinkPage(0, 10_000, { a: 0 });
    const model = new TopModel(['http://sink/metrics'], async () => page);
    await model.tick(0);
    const etas: number[] = [];
    const throughputs: number[] = [];
    for (let second = 1; second <= 40; second++) {
      done += steps[second % steps.length]!;
      page = sinkPage(done, 10_000, { a: done });
      const view = await model.tick(second * 1000);
      throughputs.push(view.throughput);
      if (second < 5) continue;
      // What remains at the true pace, 175 jobs/s: the ETA stays within 10% of it, and moves by
      // about the second that passed from one tick to the next.
      const truth = (10_000 - done) / 175;
      expect(view.etaSeconds!).toBeGreaterThan(0.9 * truth);
      expect(view.etaSeconds!).toBeLessThan(1.1 * truth);
      if (etas.length > 0) expect(Math.abs(view.etaSeconds! - etas.at(-1)!)).toBeLessThan(3);
      etas.push(view.etaSeconds!);
    }
    // The rate of one interval, which the ETA used to follow (an ETA from 10 to 60 s), swings six-fold.
    expect(Math.max(...throughputs) / Math.min(...throughputs)).toBeGreaterThanOrEqual(6);
  });

  it('has no ETA before the split is done or when nothing moves', async () => {
    let page = sinkPage(100, 0, {});
    const model = new TopModel(['http://sink/metrics'], async () => page);
    await model.tick(0);
    page = sinkPage(200, 0, {});
    expect((await model.tick(1000)).etaSeconds).toBeNull();
    page = sinkPage(200, 1000, {});
    const stalled = new TopModel(['http://sink/metrics'], async () => page);
    await stalled.tick(0);
    expect((await stalled.tick(1000)).etaSeconds).toBeNull();
  });
});
