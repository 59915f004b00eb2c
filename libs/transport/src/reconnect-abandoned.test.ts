import { afterEach, describe, expect, it } from 'vitest';
import { curveKeyPair, Dealer, Router } from 'zeromq';
import { reconnectWhenAbandoned } from './handshake-retry.js';

/** A logger that keeps its error lines. */
function recording() {
  const errors: string[] = [];
  return { errors, logger: { error: (_: object, message: string) => void errors.push(message), warn: () => {}, info: () => {} } };
}

const sockets: { close(): void }[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

/** A bound router that reads all the time, as the ventilator does (so it notices a peer gone at once), counting what it gets. */
async function boundRouter(endpoint = 'tcp://127.0.0.1:*'): Promise<{ router: Router; endpoint: string; received: () => number }> {
  const router = new Router({ linger: 0 });
  sockets.push(router);
  await router.bind(endpoint);
  let received = 0;
  void (async () => {
    for await (const _ of router) received++;
  })().catch(() => {});
  return { router, endpoint: router.lastEndpoint!, received: () => received };
}

/** A dealer that cuts any message above 1,000 bytes, as a worker with a small limit does. */
function smallDealer(endpoint: string, quietMs: number) {
  const dealer = new Dealer({ linger: 0, maxMessageSize: 1000, routingId: 'd1', immediate: true, sendTimeout: 0, reconnectInterval: 100 });
  sockets.push(dealer);
  const { errors, logger } = recording();
  reconnectWhenAbandoned(dealer, { endpoint, logger, socketName: 'jobs', cause: 'a test', quietMs });
  dealer.connect(endpoint);
  return { dealer, errors };
}

/** Sends `ping` from the dealer until the router gets one more message (sends that find no peer are dropped). */
async function pingGetsThrough(dealer: Dealer, received: () => number, ms: number): Promise<boolean> {
  const before = received();
  const pings = setInterval(() => dealer.send('ping').catch(() => {}), 50);
  try {
    for (const until = Date.now() + ms; Date.now() < until; ) {
      if (received() > before) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  } finally {
    clearInterval(pings);
  }
}

describe('reconnectWhenAbandoned', () => {
  it('connects again, with one error line, when libzmq gives the connection up after an oversized message', async () => {
    const { router, endpoint, received } = await boundRouter();
    const { dealer, errors } = smallDealer(endpoint, 300);
    expect(await pingGetsThrough(dealer, received, 5000)).toBe(true);
    await router.send(['d1', Buffer.alloc(5000)]);
    // libzmq alone would leave the dealer connected to nothing from here on.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(errors).toEqual(['the connection was cut and libzmq does not connect again (a test); connecting again']);
    expect(await pingGetsThrough(dealer, received, 5000)).toBe(true);
  });

  it('leaves a peer that restarts to libzmq: no line, and the connection comes back', async () => {
    const first = await boundRouter();
    // A wait longer than libzmq's first retry takes to show on a busy machine.
    const { dealer, errors } = smallDealer(first.endpoint, 1500);
    expect(await pingGetsThrough(dealer, first.received, 5000)).toBe(true);
    first.router.close();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const second = await boundRouter(first.endpoint);
    expect(await pingGetsThrough(dealer, second.received, 5000)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('leaves a refused handshake alone (retryRefusedHandshakes has it, with its backoff)', async () => {
    // A CURVE server and a client without keys: every handshake fails, and libzmq does not retry.
    const router = new Router({ linger: 0, curveServer: true, curveSecretKey: curveKeyPair().secretKey });
    sockets.push(router);
    await router.bind('tcp://127.0.0.1:*');
    const { errors } = smallDealer(router.lastEndpoint!, 300);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(errors).toEqual([]);
  });
});
