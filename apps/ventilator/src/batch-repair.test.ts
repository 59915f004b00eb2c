import { describe, expect, it } from 'vitest';
import type { BatchAccount } from '@jobpipe/ledger';
import { createLogger, Metrics, metricValue } from '@jobpipe/observability';
import { BatchRepair } from './batch-repair.js';

/** A repair over a ledger whose account of batch 'b' the test sets; `reruns` counts the splits run again. */
function setup(first: BatchAccount | undefined) {
  let account = first;
  let unwritten = false;
  const reruns: string[] = [];
  const metrics = new Metrics({ defaultMetrics: false });
  const repair = new BatchRepair({
    ledger: { account: async () => account },
    holdsUnwritten: () => unwritten,
    logger: createLogger('test', 'silent'),
    metrics,
    labels: { pipeline: 'p' },
    everyMs: 60_000,
  });
  repair.watch('b', async () => {
    reruns.push('b');
    return 3;
  });
  const repairs = async (kind: string) => metricValue(await metrics.registry.metrics(), 'jobpipe_ledger_repairs_total', { pipeline: 'p', kind }) ?? 0;
  return {
    repair,
    reruns,
    repairs,
    set: (next: BatchAccount | undefined) => (account = next),
    holdUnwritten: (value: boolean) => (unwritten = value),
  };
}

const running = (accounted: number, total: number | null = 10): BatchAccount => ({ status: 'running', total, accounted, cancelled: false });

describe('BatchRepair', () => {
  it('runs the split again once two checks in a row find the same jobs unaccounted for', async () => {
    const { repair, reruns, repairs } = setup(running(7));
    await repair.check();
    expect(reruns).toEqual([]);
    await repair.check();
    expect(reruns).toEqual(['b']);
    expect(await repairs('jobs')).toBe(1);
  });

  it('waits while the count moves, while jobs of the batch are not written ahead yet, and leaves an accounted batch alone', async () => {
    const { repair, reruns, set, holdUnwritten } = setup(running(5));
    await repair.check();
    set(running(6)); // still moving: not two equal readings
    await repair.check();
    holdUnwritten(true);
    await repair.check();
    await repair.check();
    expect(reruns).toEqual([]);
    holdUnwritten(false);
    set(running(10));
    await repair.check();
    await repair.check();
    set({ status: 'done', total: 10, accounted: 0, cancelled: false });
    await repair.check();
    await repair.check();
    set({ status: 'running', total: 10, accounted: 2, cancelled: true });
    await repair.check();
    await repair.check();
    expect(reruns).toEqual([]);
  });

  it('begins a batch again whose meta Redis lost, and one whose end it lost', async () => {
    const { repair, reruns, repairs, set } = setup(undefined);
    await repair.check();
    await repair.check();
    expect(reruns).toEqual(['b']);
    expect(await repairs('batch')).toBe(1);
    set(running(4, null));
    await repair.check();
    await repair.check();
    expect(reruns).toEqual(['b', 'b']);
  });

  it('checks a batch no more once it is forgotten', async () => {
    const { repair, reruns } = setup(running(1));
    repair.forget('b');
    await repair.check();
    await repair.check();
    expect(reruns).toEqual([]);
    expect(repair.watched).toBe(0);
  });
});
