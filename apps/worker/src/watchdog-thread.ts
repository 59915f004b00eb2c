// Runs on the watchdog's own thread (see watchdog.ts): kills the process when the main thread's
// beat has stood still for longer than the job timeout.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

interface WatchdogData {
  shared: Int32Array;
  timeoutMs: number;
  checkEveryMs: number;
  bindings: Record<string, unknown>;
}

const { shared, timeoutMs, checkEveryMs, bindings } = workerData as WatchdogData;
// Same slots as watchdog.ts; not imported, so this thread loads nothing but itself.
const BEAT = 0;
const IN_HANDLER = 1;
const SEQ = 2;
const ATTEMPT = 3;

let lastBeat = Atomics.load(shared, BEAT);
let lastMovedAt = Date.now();
let stillChecks = 0;

setInterval(() => {
  const now = Date.now();
  const beat = Atomics.load(shared, BEAT);
  if (beat !== lastBeat) {
    lastBeat = beat;
    lastMovedAt = now;
    stillChecks = 0;
    return;
  }
  // Three still checks in a row besides the time: a process that was not scheduled at all for a
  // while (a loaded machine) wakes both threads, and the main thread beats before the third.
  if (++stillChecks < 3 || now - lastMovedAt <= timeoutMs) return;
  const inHandler = Atomics.load(shared, IN_HANDLER) === 1;
  const line = {
    level: 'fatal',
    time: new Date(now).toISOString(),
    pid: process.pid,
    ...bindings,
    blockedMs: now - lastMovedAt,
    timeoutMs,
    // 'TimeoutError' is WireErrorName.TimeoutError (@jobpipe/protocol), a literal so that this thread imports nothing.
    ...(inHandler
      ? {
          seq: Atomics.load(shared, SEQ),
          attempt: Atomics.load(shared, ATTEMPT),
          error: { name: 'TimeoutError', message: `handler blocked the event loop longer than ${timeoutMs} ms` },
        }
      : {}),
    msg: 'event loop blocked past the job timeout: killing the worker process (its jobs are redelivered; run CPU-bound handlers with threads > 0)',
  };
  try {
    writeSync(1, `${JSON.stringify(line)}\n`);
  } finally {
    process.kill(process.pid, 'SIGKILL');
  }
}, checkEveryMs);
