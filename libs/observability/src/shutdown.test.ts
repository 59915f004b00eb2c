/**
 * exitOnSignals in a real process started the way npm starts a role: a shell that exits before
 * the role does. The role stops once its parent is gone; a SIGTERM that comes after (a signal to
 * the whole process group reaches npm and the role, and the parent's exit can be seen first) is
 * that same stop, not an impatient second signal: the stop runs to its end and exits 0. A role
 * whose npm is gone before it begins to watch (re-parented to init while it loaded) stops too.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const shutdownModule = fileURLToPath(new URL('../dist/shutdown.js', import.meta.url));
const pinoModule = fileURLToPath(import.meta.resolve('pino'));

/** A role whose stop takes 1.5 s, logging JSON lines to stdout, that watches for signals after `loadMs`. */
const roleLoadingFor = (loadMs: number) => `
const { exitOnSignals } = await import(${JSON.stringify(shutdownModule)});
const { default: pino } = await import(${JSON.stringify(pinoModule)});
const logger = pino();
await new Promise((resolve) => setTimeout(resolve, ${loadMs}));
exitOnSignals(() => new Promise((resolve) => setTimeout(resolve, 1500)), logger);
logger.info('ready');
setInterval(() => {}, 1000);
`;
const role = roleLoadingFor(0);

/** JSON lines of `output`, and a wait for one of them. */
function logLines(read: () => string) {
  const lines = () =>
    read()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; signal?: string });
  const waitForLine = async (msg: string, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!lines().some((line) => line.msg === msg)) {
      if (Date.now() > deadline) throw new Error(`no '${msg}' line in:\n${read()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { lines, waitForLine };
}

/**
 * Starts a role in the background of a shell with npm's environment, as npm's `sh -c` does; the
 * shell then runs `after`. Resolves with the role's pid (it is not this test's child) and its lines.
 */
async function underShell(roleSource: string, after: string) {
  const shell = spawn('sh', ['-c', `"${process.execPath}" --input-type=module -e "$ROLE" </dev/null & echo $!${after}`], {
    env: { ...process.env, npm_command: 'exec', ROLE: roleSource },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let output = '';
  shell.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const pid = await new Promise<number>((resolve) => shell.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().split('\n')[0]))));
  return { shell, pid, ...logLines(() => output) };
}

/** The parent pid of a process, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('exitOnSignals', () => {
  it('a SIGTERM after the parent exited is the stop under way: it ends with "stopped" and exit 0', async () => {
    // The shell starts the role in the background and exits once told (the role is ready): the
    // role is re-parented, as when npx ends.
    const { shell, pid, lines, waitForLine } = await underShell(role, '; read _');
    try {
      await waitForLine('ready');
      shell.stdin.end('\n');
      await waitForLine('shutting down');
      expect(lines().find((line) => line.msg === 'shutting down')?.signal).toBe('parent exited');
      process.kill(pid, 'SIGTERM');
      // Not this test's child (it was re-parented), so its exit code is read from its last line:
      // 'stopped' is logged right before exit(0); a second signal would have logged and exited 1.
      await waitForLine('stopped');
      expect(lines().map((line) => line.msg)).toEqual(['ready', 'shutting down', 'stopped']);
      const deadline = Date.now() + 5000;
      while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(isAlive(pid), 'the role exited').toBe(false);
    } finally {
      shell.kill('SIGKILL');
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('npm gone before the role begins to watch (re-parented while it loaded): the role stops as on SIGTERM', async () => {
    // The shell exits at once, while the role still loads: by the time it watches, it is re-parented.
    const { pid, lines, waitForLine } = await underShell(roleLoadingFor(800), '');
    try {
      await waitForLine('ready');
      // Seen only when the role was re-parented to init; under a subreaper (a desktop session's
      // systemd --user) it is not, as the README says: the role then runs on.
      if (parentOf(pid) === 1) {
        await waitForLine('stopped');
        expect(lines().map((line) => [line.msg, line.signal])).toEqual([
          ['ready', undefined],
          ['shutting down', 'parent exited'],
          ['stopped', undefined],
        ]);
      } else {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        expect(lines().map((line) => line.msg)).toEqual(['ready']);
      }
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
