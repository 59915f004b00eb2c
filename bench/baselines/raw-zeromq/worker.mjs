// Worker: PULL from the ventilator, run the handler, PUSH {"i","t"} to the sink, one at a time.
// With `packed` > 0 each message is a JSON array of jobs, answered by one message: the array of
// their results.
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

if (config.packed) {
  for await (const [msg] of pull) {
    const results = [];
    for (const job of JSON.parse(msg)) {
      spin(config.workMs);
      results.push(`{"i":${job.i},"t":${job.t}}`);
    }
    await push.send(`[${results.join(',')}]`);
    count += results.length;
  }
} else {
  for await (const [msg] of pull) {
    const job = JSON.parse(msg);
    const t0 = performance.now();
    spin(config.workMs);
    busyMs += performance.now() - t0;
    await push.send(JSON.stringify({ i: job.i, t: job.t }));
    count++;
  }
}
