import { describe, expect, it } from 'vitest';
import { SerialSender } from './serial-sender.js';

describe('SerialSender', () => {
  it('never has two sends pending on the socket, and keeps their order', async () => {
    let pendingOnSocket = 0;
    let maxPending = 0;
    const order: string[] = [];
    const sender = new SerialSender({
      async send(frame) {
        pendingOnSocket++;
        maxPending = Math.max(maxPending, pendingOnSocket);
        await new Promise((resolve) => setTimeout(resolve, 1));
        order.push(String(frame));
        pendingOnSocket--;
        if (String(frame) === 'bad') throw new Error('Socket is busy writing');
      },
    });
    const sends = ['a', 'bad', 'b', 'c'].map((text) => sender.send(Buffer.from(text)));
    expect(sender.pending).toBe(4);
    const results = await Promise.allSettled(sends);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(order).toEqual(['a', 'bad', 'b', 'c']);
    expect(maxPending).toBe(1);
    await sender.idle();
    expect(sender.pending).toBe(0);
  });
});
