// Sink: PULL bound on an ephemeral port; counts distinct job indexes and their latencies.
import { Pull } from 'zeromq';
import { childRole, Results } from '../common.mjs';

const { config, send } = childRole();
const pull = new Pull();
let peers = 0;
const allConnected = new Promise((resolve) => pull.events.on('handshake', () => ++peers === config.workers && resolve()));
await pull.bind('tcp://127.0.0.1:*');
send({ type: 'bound', endpoint: pull.lastEndpoint });
await allConnected;

const results = new Results(config.jobs);
const progress = results.reportProgress(send);
send({ type: 'ready' });
for await (const [msg] of pull) {
  const r = JSON.parse(msg);
  if (results.add(r.i, r.t)) break;
}
clearInterval(progress);
send({ type: 'done', ...results.summary() });
