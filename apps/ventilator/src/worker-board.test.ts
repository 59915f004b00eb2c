import { describe, expect, it } from 'vitest';
import type { LaneBoard } from './pipeline-lane.js';
import { WorkerBoardMaker } from './worker-board.js';

const worker = (sent: number, held: number, slots: number | null = 2) => ({
  key: 'k1',
  id: 'w1',
  slots,
  held,
  credit: 4,
  sent,
  draining: false,
  lastSeenAt: 1,
});

describe('the worker board', () => {
  it("reports each worker's jobs/s from what left its hands between two boards", () => {
    let board: LaneBoard = { jobsWaiting: 5, inFlight: 3, workers: [worker(10, 3)] };
    const lanes = new Map([['primes', { board: () => board }]]);
    const maker = new WorkerBoardMaker('v1');
    const first = maker.make(lanes, 1000);
    expect(first).toEqual({
      ventilator: 'v1',
      at: 1000,
      pipelines: {
        primes: {
          jobsWaiting: 5,
          inFlight: 3,
          workers: [{ id: 'w1', slots: 2, busy: 2, held: 3, credit: 4, sent: 10, draining: false, lastSeenAt: 1, jobsPerSecond: 0 }],
        },
      },
    });
    // 2 s later: 40 more sent, 1 held: 42 more finished.
    board = { jobsWaiting: 0, inFlight: 1, workers: [worker(50, 1)] };
    expect(maker.make(lanes, 3000).pipelines.primes!.workers[0]!.jobsPerSecond).toBe(21);
  });

  it('shows a worker busy up to its slots, and without slots when its Credit says none', () => {
    const maker = new WorkerBoardMaker('v1');
    const board = (workers: LaneBoard['workers']) => new Map([['p', { board: (): LaneBoard => ({ jobsWaiting: 0, inFlight: 0, workers }) }]]);
    expect(maker.make(board([worker(5, 1, 4)])).pipelines.p!.workers[0]).toMatchObject({ slots: 4, busy: 1 });
    expect(maker.make(board([worker(5, 1, null)])).pipelines.p!.workers[0]).toMatchObject({ slots: null, busy: null });
  });
});
