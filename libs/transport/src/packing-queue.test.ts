import { describe, expect, it } from 'vitest';
import { PackingQueue } from './packing-queue.js';

describe('PackingQueue', () => {
  it('sends a lone item at once and packs what arrives during a send', async () => {
    const packs: number[][] = [];
    let release!: () => void;
    const queue = new PackingQueue<number>(async (items) => {
      packs.push(items);
      if (packs.length === 1) await new Promise<void>((resolve) => (release = resolve));
    }, 3);
    queue.push(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(packs).toEqual([[1]]);
    for (let i = 2; i <= 6; i++) queue.push(i);
    release();
    await queue.idle();
    expect(packs).toEqual([[1], [2, 3, 4], [5, 6]]);
    expect(queue.size).toBe(0);
  });

  it('packs items pushed in one I/O turn, promise callbacks included', async () => {
    const packs: number[][] = [];
    const queue = new PackingQueue<number>(async (items) => void packs.push(items), 100);
    for (let i = 0; i < 5; i++) void Promise.resolve().then(() => queue.push(i));
    await queue.idle();
    await new Promise((resolve) => setImmediate(resolve));
    await queue.idle();
    expect(packs).toEqual([[0, 1, 2, 3, 4]]);
  });

  it('reports a failed flush and goes on with the next pack', async () => {
    const failed: number[][] = [];
    const sent: number[][] = [];
    const queue = new PackingQueue<number>(
      async (items) => {
        if (items.includes(1)) throw new Error('boom');
        sent.push(items);
      },
      1,
      (_error, items) => failed.push(items),
    );
    queue.push(1);
    queue.push(2);
    await new Promise((resolve) => setImmediate(resolve));
    await queue.idle();
    expect(failed).toEqual([[1]]);
    expect(sent).toEqual([[2]]);
  });
});
