import { afterEach, describe, expect, it } from 'vitest';
import { Dealer, Pull } from 'zeromq';
import { AddressError, common } from '@jobpipe/config';
import { endpointError } from './endpoint-errors.js';

const sockets: { close(): void }[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

/** What `run` throws. */
async function thrown(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('nothing thrown');
}

describe('endpointError', () => {
  it('names the setting whose endpoint zeromq found in use', async () => {
    const first = new Pull();
    const second = new Pull();
    sockets.push(first, second);
    await first.bind('tcp://127.0.0.1:*');
    const endpoint = first.lastEndpoint!;
    const error = endpointError(await thrown(() => second.bind(endpoint)), [
      [common.resultsBind, 'tcp://127.0.0.1:1'],
      [common.eventsBind, endpoint],
    ]);
    expect(error).toBeInstanceOf(AddressError);
    expect((error as AddressError).message).toBe(
      `JOBPIPE_EVENTS_BIND (--events-bind): ${endpoint} is in use by another process: stop that process (another instance of this role?), or choose another endpoint`,
    );
  });

  it('says that * is for binding when a connect gets it', async () => {
    const socket = new Dealer();
    sockets.push(socket);
    const error = endpointError(await thrown(() => socket.connect('tcp://*:5557')), [[common.jobsConnect, 'tcp://*:5557']]);
    expect((error as AddressError).message).toBe(
      'JOBPIPE_JOBS_CONNECT (--jobs-connect): tcp://*:5557 is not an address that can be used here: give the host and port to connect to (tcp://host:port), not *',
    );
  });

  it('returns any other error as it is', () => {
    const other = new Error('boom');
    expect(
      endpointError(other, [
        [common.jobsBind, 'tcp://*:1'],
        [common.resultsBind, 'tcp://*:2'],
      ]),
    ).toBe(other);
    expect(endpointError(Object.assign(new Error('x'), { code: 'EFAULT', address: 'tcp://*:1' }), [[common.jobsBind, 'tcp://*:1']])).toBeInstanceOf(Error);
  });
});
