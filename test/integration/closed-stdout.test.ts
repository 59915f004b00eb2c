/**
 * A role whose log reader goes away (`jobpipe console | head`, a log shipper that died) still
 * stops on SIGTERM. The reader here closes its end of the pipe as the role logs 'shutting down',
 * so the role's next line ('stopped', just before it exits) is the first write to fail. pino's
 * default, asynchronous destination left that write pending, and its exit hook then retried it
 * forever: the role hung until SIGKILL (4 stops in 6, before the fix). The console is the role
 * used: with a Redis that refuses, its stop takes long enough for the pipe to be closed first.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { freePort } from '@jobpipe/launcher';
import { cliPath, echoPipeline, within } from './helpers.js';

/** Starts a console, closes its stdout's pipe at 'shutting down', and returns how it exited. */
async function stopWithClosedStdout(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const refused = await freePort(); // nothing listens there: Redis is unreachable all along
  const child = spawn(process.execPath, [cliPath, 'console'], {
    env: {
      ...process.env,
      JOBPIPE_PIPELINE: echoPipeline,
      JOBPIPE_REDIS_URL: `redis://127.0.0.1:${refused}`,
      JOBPIPE_CONSOLE_PORT: String(await freePort()),
      JOBPIPE_METRICS_PORT: '0',
      JOBPIPE_EVENTS_CONNECT: `tcp://127.0.0.1:${await freePort()}`,
      JOBPIPE_LOG_LEVEL: 'info',
      JOBPIPE_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  try {
    for await (const line of createInterface({ input: child.stdout! })) {
      if (line.includes('"msg":"ready"')) child.kill('SIGTERM');
      if (line.includes('"msg":"shutting down"')) {
        child.stdout!.destroy();
        break;
      }
    }
    // The grace for a stop is 30 s; a role that has not exited in 15 is stuck, not slow.
    return await within('the console to exit on SIGTERM with its stdout closed', 15_000, exited);
  } finally {
    child.kill('SIGKILL');
  }
}

describe('a role whose stdout is closed', () => {
  it('exits 0 on SIGTERM when the line it logs last finds the pipe closed', async () => {
    // Three stops, as the hang depends on timing: before the fix, 4 stops in 6 hung.
    for (let stop = 1; stop <= 3; stop++) expect(await stopWithClosedStdout(), `stop ${stop}`).toEqual({ code: 0, signal: null });
  }, 60_000);
});
