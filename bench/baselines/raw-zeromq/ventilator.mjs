// Ventilator: PUSH bound on an ephemeral port, each send awaited. One job per message, or with
// `packed` > 0 up to that many per message, as a JSON array of the same job texts.
import { Push } from 'zeromq';
import { bindAndAwaitPeers, childRole, payloads, produce } from '../common.mjs';

const { config, send, message } = childRole();
const push = new Push();
await bindAndAwaitPeers(push, config.workers, send);
send({ type: 'ready' });
await message('go');

const make = payloads(config.jobs, config.payloadBytes).string;
const sendRange = config.packed
  ? async (from, to) => {
      const texts = [];
      for (let i = from; i < to; i++) texts.push(make(i));
      await push.send(`[${texts.join(',')}]`);
    }
  : async (from, to) => {
      for (let i = from; i < to; i++) await push.send(make(i));
    };
// Packed, produce hands out at most `packed` jobs at a time: one message each.
const firstAt = await produce(config.jobs, config.rate, config.packed || Infinity, sendRange);
send({ type: 'produced', firstAt });
