import { describe, expect, it } from 'vitest';
import { encode } from '@jobpipe/protocol';
import { receiveLoop, type ReceivesFrames } from './receive-loop.js';

/** A socket that plays back a script of receive outcomes, then reports itself closed. */
function scripted(outcomes: (Buffer[] | Error)[]): ReceivesFrames {
  return {
    get closed() {
      return outcomes.length === 0;
    },
    receive: async () => {
      const next = outcomes.shift()!;
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

const eagain = () => Object.assign(new Error('Operation was not possible or timed out'), { code: 'EAGAIN' });

describe('receiveLoop', () => {
  it('reads on after a spurious EAGAIN, and ends when the socket closes', async () => {
    const seen: string[] = [];
    const credit = encode({ type: 'Credit', worker: 'w', granted: 1, received: 0 });
    await receiveLoop(scripted([[credit], eagain(), eagain(), [credit]]), {
      accept: ['Credit'],
      maxMessageBytes: 1024,
      onMessage: (message) => void seen.push(message.type),
      onMalformed: () => seen.push('malformed'),
    });
    expect(seen).toEqual(['Credit', 'Credit']);
  });

  it('ends with any other error while the socket is open', async () => {
    const error = Object.assign(new Error('boom'), { code: 'EFAULT' });
    await expect(receiveLoop(scripted([error, []]), { accept: ['Credit'], maxMessageBytes: 1024, onMessage: () => {}, onMalformed: () => {} })).rejects.toThrow(
      'boom',
    );
  });
});
