// Worker: PULL from the ventilator, run the handler, PUSH {"i","t"} to the sink, one at a time.
import { Pull, Push } from 'zeromq';
import { childRole, spin } from '../common.mjs';

const { config, send, message } = childRole();
const pull = new Pull();
const push = new Push();
pull.connect(config.ventilator);
push.connect(config.sink);
let count = 0;
let busyMs = 0;
message('stats').then(() => send({ type: 'stats', count, busyMs }));
send({ type: 'ready' });

for await (const [msg] of pull) {
  const job = JSON.parse(msg);
  const t0 = performance.now();
  spin(config.workMs);
  busyMs += performance.now() - t0;
  await push.send(JSON.stringify({ i: job.i, t: job.t }));
  count++;
}
