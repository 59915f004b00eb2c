import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  it('--by-role with several clients: a folder per worker, each with its own secret only', async () => {
    const dir = scratch();
    const printed = await keys('--out', dir, '--clients', '3', '--by-role');
    expect(printed).toContain("each other worker's in worker-2/, worker-3/");
    expect(readdirSync(join(dir, 'worker')).sort()).toEqual(['client-1.secret', 'server.public']);
    for (const n of [2, 3]) {
      expect(readdirSync(join(dir, `worker-${n}`)).sort()).toEqual([`client-${n}.secret`, 'server.public']);
      expect(read(join(dir, `worker-${n}`), `client-${n}.secret`)).toBe(read(dir, `client-${n}.secret`));
    }
  });

  it('--keep with more --clients makes and allows the missing pairs, and leaves a revoked one out', async () => {
    const dir = scratch();
    await keys('--out', dir, '--clients', '2');
    // client-2 revoked: its line taken out of the list, its files left.
    const first = read(dir, 'clients.allow').split('\n')[0]!;
    writeFileSync(join(dir, 'clients.allow'), `${first}\n`);
    const printed = await keys('--out', dir, '--keep', '--clients', '4');
    expect(printed).toContain('made the missing client-3, client-4 key pairs');
    expect(read(dir, 'clients.allow').split('\n')).toEqual([first, `${read(dir, 'client-3.public')}  client-3`, `${read(dir, 'client-4.public')}  client-4`]);
  });

  it('--keep --by-role says when a role folder was edited, as it rewrites it from the flat set', async () => {
    const dir = scratch();
    await keys('--out', dir, '--clients', '2', '--by-role');
    writeFileSync(join(dir, 'ventilator', 'clients.allow'), `${read(dir, 'client-1.public')}\n`);
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
    await keys('--out', dir, '--keep', '--by-role');
    expect(stderr).toBe(
      `jobpipe: ${join('ventilator', 'clients.allow')} differed from clients.allow and is rewritten from it: change the flat set in ${dir}, not the role folders\n`,
    );
    expect(read(join(dir, 'ventilator'), 'clients.allow')).toBe(read(dir, 'clients.allow'));
  });
});
