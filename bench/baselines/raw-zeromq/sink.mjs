// Sink: PULL bound on an ephemeral port; counts distinct job indexes and their latencies. With
// `packed` > 0 each message is a JSON array of results, all arrived at the same moment.
import { Pull } from 'zeromq';
import { bindAndAwaitPeers, childRole, now, Results } from '../common.mjs';

const { config, send } = childRole();
const pull = new Pull();
await bindAndAwaitPeers(pull, config.workers, send);

const results = new Results(config.jobs, config.warmupJobs);
const progress = results.reportProgress(send);
send({ type: 'ready' });
receive: for await (const [msg] of pull) {
  if (!config.packed) {
    const r = JSON.parse(msg);
    if (results.add(r.i, r.t)) break;
    continue;
  }
  const at = now();
  for (const r of JSON.parse(msg)) if (results.add(r.i, r.t, at)) break receive;
}
clearInterval(progress);
send({ type: 'done', ...results.summary() });
