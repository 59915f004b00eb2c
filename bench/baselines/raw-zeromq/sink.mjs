// Sink: PULL bound on an ephemeral port; counts distinct job indexes and their latencies.
import { Pull } from 'zeromq';
import { bindAndAwaitPeers, childRole, Results } from '../common.mjs';

const { config, send } = childRole();
const pull = new Pull();
await bindAndAwaitPeers(pull, config.workers, send);

const results = new Results(config.jobs, config.warmupJobs);
const progress = results.reportProgress(send);
send({ type: 'ready' });
for await (const [msg] of pull) {
  const r = JSON.parse(msg);
  if (results.add(r.i, r.t)) break;
}
clearInterval(progress);
send({ type: 'done', ...results.summary() });
