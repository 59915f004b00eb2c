/**
 * exitOnSignals in a real process started the way npm starts a role: a shell that exits before
 * the role does. The role stops once its parent is gone; a SIGTERM that comes after (a signal to
 * the whole process group reaches npm and the role, and the parent's exit can be seen first) is
 * that same stop, not an impatient second signal: the stop runs to its end and exits 0.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const shutdownModule = fileURLToPath(new URL('../dist/shutdown.js', import.meta.url));
const pinoModule = fileURLToPath(import.meta.resolve('pino'));

/** A role whose stop takes 1.5 s, logging JSON lines to stdout. */
const role = `
const { exitOnSignals } = await import(${JSON.stringify(shutdownModule)});
const { default: pino } = await import(${JSON.stringify(pinoModule)});
const logger = pino();
exitOnSignals(() => new Promise((resolve) => setTimeout(resolve, 1500)), logger);
logger.info('ready');
setInterval(() => {}, 1000);
`;

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
    const shell = spawn('sh', ['-c', `"${process.execPath}" --input-type=module -e "$ROLE" </dev/null & echo $!; read _`], {
      env: { ...process.env, npm_command: 'exec', ROLE: role },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let output = '';
    shell.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const pid = await new Promise<number>((resolve) => shell.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().split('\n')[0]))));
    const lines = () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string; signal?: string });
    const waitForLine = async (msg: string) => {
      const deadline = Date.now() + 10_000;
      while (!lines().some((line) => line.msg === msg)) {
        if (Date.now() > deadline) throw new Error(`no '${msg}' line in:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
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
});
