// Ventilator: PUSH bound on an ephemeral port, one job per message, each send awaited.
import { Push } from 'zeromq';
import { bindAndAwaitPeers, childRole, payloads, produce } from '../common.mjs';

const { config, send, message } = childRole();
const push = new Push();
await bindAndAwaitPeers(push, config.workers, send);
send({ type: 'ready' });
await message('go');

const make = payloads(config.jobs, config.payloadBytes).string;
const firstAt = await produce(config.jobs, config.rate, Infinity, async (from, to) => {
  for (let i = from; i < to; i++) await push.send(make(i));
});
send({ type: 'produced', firstAt });
