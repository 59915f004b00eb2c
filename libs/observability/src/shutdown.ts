import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from 'pino';

/** How often a role started through npm checks that npm is still there, in ms. */
const PARENT_POLL_MS = 250;

/**
 * Calls `stop` once on the first SIGTERM or SIGINT (what Kubernetes, compose and Ctrl-C send), then
 * exits 0 when it resolves. A second signal, or `stop` running past `graceMs`, exits 1 at once.
 *
 * A role started through npm (`npx jobpipe worker`, `npm run ...`) also stops as on SIGTERM when
 * its parent goes away: npm runs the command under `sh -c`, and a SIGTERM sent to npx ends npm and
 * that shell without passing the signal on, which left the role running as an orphan. npm gone
 * before the role began to watch (npx ended while the role was still loading) counts too.
 */
export function exitOnSignals(stop: () => Promise<void>, logger: Logger, graceMs = 30_000): void {
  /** What began the stop, once it has begun. */
  let stoppingFor: NodeJS.Signals | 'parent exited' | undefined;
  const onSignal = (signal: NodeJS.Signals | 'parent exited') => {
    if (stoppingFor !== undefined) {
      if (signal === 'parent exited') return;
      // A signal to the whole process group ends npm too, and the parent's exit can be seen first:
      // that signal is the stop already under way, not a second one.
      if (stoppingFor === 'parent exited') {
        stoppingFor = signal;
        return;
      }
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stoppingFor = signal;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      },
      (error: Error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (startedThroughNpm()) watchParent(() => onSignal('parent exited'));
}

/** npm sets npm_command in the environment of what it runs (exec for npx, run-script, test, ...). */
function startedThroughNpm(): boolean {
  return typeof process.env.npm_command === 'string' && process.env.npm_command !== '';
}

/** What npm runs a role under: npm itself (a node process) and the shell of its script. */
const NPM_PARENTS = new Set(['npm', 'npx', 'node', 'sh', 'bash', 'dash', 'zsh']);

/**
 * Whether npm, which started this role, had exited before the role began to watch it: the role is
 * already re-parented to init (pid 1), and init is not npm or its shell (a container may run npm
 * as its first process). Linux only (reads /proc); a re-parent to a subreaper other than init is
 * not seen here.
 */
function npmGoneAtStart(): boolean {
  if (process.ppid !== 1) return false;
  try {
    const init = readFileSync('/proc/1/cmdline', 'utf8').split('\0')[0] ?? '';
    return !NPM_PARENTS.has(basename(init));
  } catch {
    return false;
  }
}

/**
 * Calls `onGone` once the process that started this one has exited (this one is re-parented), or
 * after the caller's turn when it had exited already: the role's start goes on to its end, and
 * its stop follows.
 */
function watchParent(onGone: () => void): void {
  if (npmGoneAtStart()) {
    setImmediate(onGone);
    return;
  }
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, PARENT_POLL_MS);
  timer.unref();
}

/**
 * Waits for `work` to settle, `ms` at most; what it rejects with is left to the caller's other
 * paths. For the steps of a stop that wait on a peer (Redis) that may be away: the stop goes on
 * without them rather than running into the grace period.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = work.then(
    () => true,
    () => true,
  );
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}
