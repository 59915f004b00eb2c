import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { curvePublicKey } from '@jobpipe/transport';
import { keysCommand, ROLE_FILES } from './keys-command.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

/** Runs `jobpipe keys <args>` in this process; what it printed. */
async function keys(...args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  try {
    await keysCommand().exitOverride().parseAsync(args, { from: 'user' });
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jobpipe-keys-'));
  dirs.push(dir);
  return join(dir, 'keys');
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();

describe('jobpipe keys --out', () => {
  it('writes a key pair per role, each public key the one its secret derives, secrets readable by the owner only', async () => {
    const dir = scratch();
    await keys('--out', dir, '--clients', '2');
    for (const pair of ['server', 'link', 'events', 'client-1', 'client-2']) {
      expect(read(dir, `${pair}.public`), pair).toBe(curvePublicKey(read(dir, `${pair}.secret`)));
      expect(statSync(join(dir, `${pair}.secret`)).mode & 0o077, `${pair}.secret`).toBe(0);
    }
    expect(read(dir, 'clients.allow').split('\n')).toEqual([`${read(dir, 'client-1.public')}  client-1`, `${read(dir, 'client-2.public')}  client-2`]);
    // Five distinct pairs: no role shares a key with another.
    expect(new Set(['server', 'link', 'events', 'client-1', 'client-2'].map((pair) => read(dir, `${pair}.public`))).size).toBe(5);
  });

  it('--by-role: a folder per role holding only its files, copies of the set', async () => {
    const dir = scratch();
    const printed = await keys('--out', dir, '--by-role');
    expect(printed).toContain('ventilator/, sink/, worker/, events/');
    for (const [role, files] of Object.entries(ROLE_FILES)) {
      expect(readdirSync(join(dir, role)).sort(), role).toEqual([...files].sort());
      for (const file of files) expect(read(join(dir, role), file), `${role}/${file}`).toBe(read(dir, file));
    }
    // What matters most: no secret but its own in a worker's or the console's folder.
    expect(readdirSync(join(dir, 'worker')).filter((file) => file.endsWith('.secret'))).toEqual(['client-1.secret']);
    expect(readdirSync(join(dir, 'events')).filter((file) => file.endsWith('.secret'))).toEqual(['events.secret']);
    // Each role's lines name the files in its own folder (the console's: events/).
    const sections = printed.split(/^(ventilator|sink|worker|console)[^\n]*:$/m).slice(1);
    for (let i = 0; i < sections.length; i += 2) {
      const folder = sections[i] === 'console' ? 'events' : sections[i]!;
      const paths = [...sections[i + 1]!.matchAll(/_FILE=(\S+)/g)].map((match) => match[1]!);
      expect(paths.length, folder).toBeGreaterThan(0);
      for (const path of paths) expect(path, folder).toBe(join(dir, folder, basename(path)));
    }
    expect(sections.length).toBe(8);
  });

  it('--by-role and --keep without --out are refused, not ignored', async () => {
    await expect(keys('--by-role')).rejects.toThrow('--by-role needs --out <dir>');
    await expect(keys('--keep')).rejects.toThrow('--keep needs --out <dir>');
  });

  it('refuses a folder that holds keys, and --keep completes a set made before link and events keys, keeping the rest', async () => {
    const dir = scratch();
    await keys('--out', dir);
    await expect(keys('--out', dir)).rejects.toThrow(/holds keys already \(server\.secret\); remove them or pass --keep/);
    const server = read(dir, 'server.secret');
    const client = read(dir, 'client-1.secret');
    for (const file of ['link.secret', 'link.public', 'events.secret', 'events.public']) rmSync(join(dir, file));
    const printed = await keys('--out', dir, '--keep', '--by-role');
    expect(printed).toContain('made the missing link, events key pairs');
    expect(read(dir, 'server.secret')).toBe(server);
    expect(read(dir, 'client-1.secret')).toBe(client);
    expect(read(dir, 'link.public')).toBe(curvePublicKey(read(dir, 'link.secret')));
    expect(read(join(dir, 'ventilator'), 'link.secret')).toBe(read(dir, 'link.secret'));
    expect(await keys('--out', dir, '--keep')).toContain('exist already; kept as they are');
    expect(read(dir, 'link.secret')).toBe(read(join(dir, 'ventilator'), 'link.secret'));
  });
});
