import { Command, InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '@jobpipe/config';

/**
 * `jobpipe keys`: CURVE key pairs in the Z85 form zeromq uses. With `--out DIR` it writes a whole
 * deployment's keys as files, ready to mount as Kubernetes or compose secrets.
 */
export function keysCommand(): Command {
  return new Command('keys')
    .description('generate CURVE key pairs (Z85) for encrypted, authenticated sockets')
    .option('--out <dir>', 'write server.secret, server.public, client-N.secret, client-N.public and clients.allow into this directory')
    .option('--clients <n>', 'client key pairs to write with --out (one per worker, or one that all workers share)', clientCount, 1)
    .option('--keep', 'with --out: leave keys that exist already as they are, instead of refusing')
    .action(async (options: { out?: string; clients: number; keep?: boolean }) => {
      const { curveKeyPair } = await import('zeromq');
      if (!options.out) {
        const pair = curveKeyPair();
        process.stdout.write(`public ${pair.publicKey}\nsecret ${pair.secretKey}\n`);
        return;
      }
      const dir = resolve(options.out);
      if (existsSync(join(dir, 'server.secret'))) {
        if (options.keep) {
          process.stdout.write(`keys in ${dir} exist already; kept as they are\n`);
          return;
        }
        throw new ConfigError('', 'out', `${dir} holds keys already (server.secret); remove them or pass --keep`);
      }
      makeDirectory(dir, 0o700);
      const write = (name: string, key: string, secret: boolean) => writeFileSync(join(dir, name), `${key}\n`, { mode: secret ? 0o600 : 0o644 });
      const server = curveKeyPair();
      write('server.public', server.publicKey, false);
      const clients: string[] = [];
      for (let n = 1; n <= options.clients; n++) {
        const client = curveKeyPair();
        write(`client-${n}.public`, client.publicKey, false);
        write(`client-${n}.secret`, client.secretKey, true);
        clients.push(`${client.publicKey}  client-${n}`);
      }
      writeFileSync(join(dir, 'clients.allow'), `${clients.join('\n')}\n`, { mode: 0o644 });
      // Last: its presence marks a complete set (see --keep).
      write('server.secret', server.secretKey, true);
      process.stdout.write(
        [
          `wrote a server key pair and ${options.clients} client key pair${options.clients === 1 ? '' : 's'} to ${dir}`,
          'ventilator and sink:',
          `  JOBPIPE_CURVE_SERVER_SECRET_FILE=${join(dir, 'server.secret')}`,
          `  JOBPIPE_CURVE_CLIENT_KEYS_FILE=${join(dir, 'clients.allow')}`,
          'worker:',
          `  JOBPIPE_CURVE_SERVER_KEY_FILE=${join(dir, 'server.public')}`,
          `  JOBPIPE_CURVE_SECRET_FILE=${join(dir, 'client-1.secret')}`,
          '',
        ].join('\n'),
      );
    });
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
