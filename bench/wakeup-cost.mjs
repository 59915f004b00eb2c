#!/usr/bin/env node
// usage: node bench/wakeup-cost.mjs [--seconds 3] [--per-tick 1,2,4,16] [--bytes 2000]
// What one ZeroMQ message costs the machine's CPU when messages come a few at a time, as under a
// light load: a PUSH in this process sends to a PULL in a child process, `--per-tick` messages
// per 1 ms timer tick, and both processes' CPU time (from /proc, all their threads) is divided by
// the messages. One message per tick wakes the sender's ZeroMQ I/O thread, the receiver's I/O
// thread and the receiver's main thread (and the sender's timer wakes its main thread), so the
// figure is mostly what waking threads costs on this machine; a VM pays for every wakeup of an
// idle vCPU. The more messages share a wakeup, the less each costs.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pull, Push } from 'zeromq';
import { cpuMicros } from './process-cpu.mjs';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    'per-tick': { type: 'string', default: '1,2,4,16' },
    bytes: { type: 'string', default: '2000' },
    child: { type: 'string' },
  },
});

const perTicks = args['per-tick'].split(',').map(Number);
if (
  !perTicks.every((n) => Number.isInteger(n) && n >= 1) ||
  !(Number(args.seconds) > 0) ||
  !(Number.isInteger(Number(args.bytes)) && Number(args.bytes) >= 1)
) {
  process.stderr.write('--per-tick takes integers >= 1 separated by commas, --seconds a number > 0, --bytes an integer >= 1\n');
  process.exit(2);
}

if (args.child) {
  const pull = new Pull();
  pull.connect(args.child);
  for await (const [message] of pull) if (message.length === 0) break;
  pull.close();
  process.exit(0);
}

const push = new Push();
await push.bind('tcp://127.0.0.1:*');
const child = fork(fileURLToPath(import.meta.url), ['--child', push.lastEndpoint]);
await new Promise((resolve) => setTimeout(resolve, 500));
const payload = Buffer.alloc(Number(args.bytes), 120);
const rows = [];
for (const perTick of perTicks) {
  const [sender0, receiver0, started] = [cpuMicros(process.pid), cpuMicros(child.pid), Date.now()];
  let sent = 0;
  while (Date.now() - started < Number(args.seconds) * 1000) {
    for (let i = 0; i < perTick; i++, sent++) await push.send(payload);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const wall = (Date.now() - started) / 1000;
  const perMessage = (us) => Math.round(us / sent);
  rows.push({
    perTick,
    messagesPerSecond: Math.round(sent / wall),
    senderUsPerMessage: perMessage(cpuMicros(process.pid) - sender0),
    receiverUsPerMessage: perMessage(cpuMicros(child.pid) - receiver0),
  });
}
await push.send(Buffer.alloc(0));
await new Promise((resolve) => child.once('exit', resolve));
push.close();
console.log('| messages per 1 ms tick | messages/s | sender CPU µs per message | receiver CPU µs per message |\n|---|---|---|---|');
for (const row of rows) console.log(`| ${row.perTick} | ${row.messagesPerSecond} | ${row.senderUsPerMessage} | ${row.receiverUsPerMessage} |`);
