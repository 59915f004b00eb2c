import { Command, InvalidArgumentError } from 'commander';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '@jobpipe/config';
import { UsageError } from './usage-error.js';

/** Which files each role needs (SECURITY.md, "Who can do what with which key"): what `--by-role` writes. */
export const ROLE_FILES: Readonly<Record<string, readonly string[]>> = {
  ventilator: ['server.secret', 'clients.allow', 'link.secret'],
  sink: ['server.secret', 'clients.allow', 'link.public', 'events.public'],
  worker: ['server.public', 'client-1.secret'],
  events: ['server.public', 'events.secret'],
};

/**
 * `jobpipe keys`: CURVE key pairs in the Z85 form zeromq uses. With `--out DIR` it writes a whole
 * deployment's keys as files, ready to mount as Kubernetes or compose secrets, and with
 * `--by-role` a directory per role holding only that role's files.
 */
export function keysCommand(): Command {
  return new Command('keys')
    .description('generate CURVE key pairs (Z85) for encrypted, authenticated sockets')
    .option(
      '--out <dir>',
      "write server.*, link.* (the ventilator's link to the sink), events.* (events followers: the console), client-N.* (workers) and clients.allow into this directory",
    )
    .option('--clients <n>', 'client key pairs to write with --out (one per worker, or one that all workers share)', clientCount, 1)
    .option(
      '--by-role',
      'with --out: also write ventilator/, sink/, worker/ (client-1), worker-N/ (client-N) and events/ holding only the files each of them needs',
    )
    .option(
      '--keep',
      'with --out: keep the keys that exist already, make only the missing ones (client pairs up to --clients, allowed as they are made), instead of refusing',
    )
    .action(async (options: { out?: string; clients: number; keep?: boolean; byRole?: boolean }) => {
      const { curveKeyPair } = await import('zeromq');
      if (!options.out && (options.byRole || options.keep)) throw new UsageError(`--${options.byRole ? 'by-role' : 'keep'} needs --out <dir>`);
      if (!options.out) {
        const pair = curveKeyPair();
        process.stdout.write(`public ${pair.publicKey}\nsecret ${pair.secretKey}\n`);
        return;
      }
      const dir = resolve(options.out);
      const complete = existsSync(join(dir, 'server.secret'));
      if (complete && !options.keep) throw new ConfigError('', 'out', `${dir} holds keys already (server.secret); remove them or pass --keep`);
      makeDirectory(dir, 0o700);
      const has = (name: string) => existsSync(join(dir, name));
      const write = (name: string, key: string, secret: boolean) => writeFileSync(join(dir, name), `${key}\n`, { mode: secret ? 0o600 : 0o644 });
      const made: string[] = [];
      /** A key pair `<name>.secret`/`<name>.public`, unless both are there (--keep). */
      const pair = (name: string) => {
        if (has(`${name}.secret`) && has(`${name}.public`)) return;
        const keys = curveKeyPair();
        write(`${name}.public`, keys.publicKey, false);
        write(`${name}.secret`, keys.secretKey, true);
        made.push(name);
      };
      // A set written before link and events keys existed is completed; the rest is kept. With
      // --keep, client pairs up to --clients that are missing are made and allowed; a client
      // pair that is there stays as it is, allowed or not (a revoked key stays revoked).
      const allowed: string[] = [];
      for (let n = 1; n <= options.clients; n++) {
        const name = `client-${n}`;
        if (complete && has(`${name}.secret`) && has(`${name}.public`)) continue;
        pair(name);
        allowed.push(`${readFileSync(join(dir, `${name}.public`), 'utf8').trim()}  ${name}`);
      }
      if (!complete) writeFileSync(join(dir, 'clients.allow'), `${allowed.join('\n')}\n`, { mode: 0o644 });
      else if (allowed.length > 0) appendFileSync(join(dir, 'clients.allow'), `${allowed.join('\n')}\n`);
      pair('link');
      pair('events');
      if (!complete) {
        const server = curveKeyPair();
        write('server.public', server.publicKey, false);
        // Last: its presence marks a complete set (see --keep).
        write('server.secret', server.secretKey, true);
        made.unshift('server');
      }
      const workerDirs = options.byRole ? writeRoleDirectories(dir) : [];
      // With --by-role, each role's lines name the copies in its own directory.
      const at = (role: keyof typeof ROLE_FILES, file: string) => (options.byRole ? join(dir, role, file) : join(dir, file));
      process.stdout.write(
        [
          complete && made.length === 0
            ? `keys in ${dir} exist already; kept as they are`
            : complete
              ? `keys in ${dir} kept; made the missing ${made.join(', ')} key pair${made.length === 1 ? '' : 's'}`
              : `wrote the server, link and events key pairs and ${options.clients} client key pair${options.clients === 1 ? '' : 's'} to ${dir}`,
          ...(options.byRole
            ? [
                `each role's files in ${Object.keys(ROLE_FILES)
                  .map((role) => `${role}/`)
                  .join(', ')}${workerDirs.length > 0 ? `; each other worker's in ${workerDirs.map((worker) => `${worker}/`).join(', ')}` : ''}`,
              ]
            : []),
          'ventilator:',
          `  JOBPIPE_CURVE_SERVER_SECRET_FILE=${at('ventilator', 'server.secret')}`,
          `  JOBPIPE_CURVE_CLIENT_KEYS_FILE=${at('ventilator', 'clients.allow')}`,
          `  JOBPIPE_CURVE_LINK_SECRET_FILE=${at('ventilator', 'link.secret')}`,
          'sink:',
          `  JOBPIPE_CURVE_SERVER_SECRET_FILE=${at('sink', 'server.secret')}`,
          `  JOBPIPE_CURVE_CLIENT_KEYS_FILE=${at('sink', 'clients.allow')}`,
          `  JOBPIPE_CURVE_LINK_KEYS_FILE=${at('sink', 'link.public')}`,
          `  JOBPIPE_CURVE_EVENTS_KEYS_FILE=${at('sink', 'events.public')}`,
          'worker:',
          `  JOBPIPE_CURVE_SERVER_KEY_FILE=${at('worker', 'server.public')}`,
          `  JOBPIPE_CURVE_SECRET_FILE=${at('worker', 'client-1.secret')}`,
          'console, and programs following batches (events only):',
          `  JOBPIPE_CURVE_SERVER_KEY_FILE=${at('events', 'server.public')}`,
          `  JOBPIPE_CURVE_SECRET_FILE=${at('events', 'events.secret')}`,
          '',
        ].join('\n'),
      );
    });
}

/**
 * DIR/<role>/ with copies of that role's files only, rewritten from the flat set each time, and
 * DIR/worker-N/ for each client pair N from 2 (worker/ holds client-1's), so that each worker can
 * hold a key of its own and be revoked alone. A role folder's copy that differs from the flat set
 * (edited there) is named on stderr as it is overwritten. Returns the worker-N folders.
 */
function writeRoleDirectories(dir: string): string[] {
  const folders: [string, readonly string[]][] = Object.entries(ROLE_FILES);
  const workers: string[] = [];
  for (let n = 2; existsSync(join(dir, `client-${n}.secret`)); n++) {
    workers.push(`worker-${n}`);
    folders.push([`worker-${n}`, ['server.public', `client-${n}.secret`]]);
  }
  for (const [folder, files] of folders) {
    const folderDir = join(dir, folder);
    makeDirectory(folderDir, 0o700);
    for (const file of files) {
      const copy = join(folderDir, file);
      if (existsSync(copy) && !readFileSync(copy).equals(readFileSync(join(dir, file))))
        process.stderr.write(
          `jobpipe: ${join(folder, file)} differed from ${file} and is rewritten from it: change the flat set in ${dir}, not the role folders\n`,
        );
      copyFileSync(join(dir, file), copy);
    }
  }
  return workers;
}

function clientCount(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('must be an integer from 1 to 10,000');
  return n;
}

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdirSync never returns where a level cannot be
 * made (under /proc, say): this fails at once with that level's error, which the CLI reports in one line.
 */
function makeDirectory(dir: string, mode: number): void {
  const parent = dirname(dir);
  if (parent !== dir && !existsSync(parent)) makeDirectory(parent, mode);
  if (!existsSync(dir)) mkdirSync(dir, { mode });
}
