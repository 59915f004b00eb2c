import { describe, expect, it } from 'vitest';
import { boundedReceiveQueue } from './socket-options.js';

describe('boundedReceiveQueue', () => {
  it('queues about 8 MiB of the largest messages from one peer, and never fewer than 16', () => {
    expect(boundedReceiveQueue({ maxMessageBytes: 65_536 })).toEqual({ receiveHighWaterMark: 64 });
    expect(boundedReceiveQueue({ maxMessageBytes: 4 * 1024 * 1024 })).toEqual({ receiveHighWaterMark: 16 });
  });
});
