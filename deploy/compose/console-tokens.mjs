#!/usr/bin/env node
// usage: node deploy/compose/console-tokens.mjs --out <dir> [--keep]
// The bearer tokens of the console (docs/console.md, "Settings") for docker-compose.yml's one-shot
// service console-tokens: writes <dir>/admin.tokens and <dir>/read.tokens, one random token each
// (64 hex characters, 256 bits), mode 0600, in the form JOBPIPE_CONSOLE_ADMIN_TOKENS_FILE and
// JOBPIPE_CONSOLE_READ_TOKENS_FILE read. With --keep, a file that is there already is left as it
// is (compose runs it on every `up`); without it, both are replaced (new tokens: restart the
// console). Each file holds the token alone, so that `cat` shows what to paste. It prints where
// the tokens are, never the tokens. Plain Node, no dependency: it runs in the jobpipe image, which
// has node, from this file mounted into the container.
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const out = args[args.indexOf('--out') + 1];
const keep = args.includes('--keep');
const unknown = args.filter((arg, i) => (arg.startsWith('--') ? arg !== '--out' && arg !== '--keep' : args[i - 1] !== '--out'));
if (!args.includes('--out') || out === undefined || out.startsWith('--') || unknown.length > 0) {
  console.error('usage: console-tokens.mjs --out <dir> [--keep]');
  process.exit(2);
}

for (const scope of ['admin', 'read']) {
  const path = join(out, `${scope}.tokens`);
  if (keep && existsSync(path)) {
    console.log(`${path}: kept`);
    continue;
  }
  // Written beside and renamed over: a console starting meanwhile reads the old file or the new one.
  const scratch = `${path}.new`;
  rmSync(scratch, { force: true });
  writeFileSync(scratch, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  renameSync(scratch, path);
  console.log(`${path}: written (${scope === 'admin' ? 'may do everything' : 'may only read'})`);
}
