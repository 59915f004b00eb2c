import { Command, InvalidArgumentError } from 'commander';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    .option('--by-role', 'with --out: also write ventilator/, sink/, worker/ and events/ holding only the files each of them needs')
    .option('--keep', 'with --out: keep the keys that exist already, make only the missing ones, instead of refusing')
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
      // A set written before link and events keys existed is completed; the rest is kept.
      if (!complete) {
        const clients: string[] = [];
        for (let n = 1; n <= options.clients; n++) {
          pair(`client-${n}`);
          clients.push(`${readFileSync(join(dir, `client-${n}.public`), 'utf8').trim()}  client-${n}`);
        }
        writeFileSync(join(dir, 'clients.allow'), `${clients.join('\n')}\n`, { mode: 0o644 });
      }
      pair('link');
      pair('events');
      if (!complete) {
        const server = curveKeyPair();
        write('server.public', server.publicKey, false);
        // Last: its presence marks a complete set (see --keep).
        write('server.secret', server.secretKey, true);
        made.unshift('server');
      }
      if (options.byRole) writeRoleDirectories(dir);
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
                  .join(', ')}`,
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

/** DIR/<role>/ with copies of that role's files only, rewritten from the flat set each time. */
function writeRoleDirectories(dir: string): void {
  for (const [role, files] of Object.entries(ROLE_FILES)) {
    const roleDir = join(dir, role);
    makeDirectory(roleDir, 0o700);
    for (const file of files) copyFileSync(join(dir, file), join(roleDir, file));
  }
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
