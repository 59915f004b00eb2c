#!/usr/bin/env node
// npm run pack [-- --out DIR] [--no-build]
//
// Builds jobpipe and packs every package a user's project needs (each workspace that is not
// private: the libraries, the roles and the CLI) into one folder, ./packs by default, as the
// tarballs `npm publish` would upload. Then it prints the one command that installs them in
// another project:
//
//   npm install /path/to/jobpipe/packs/*.tgz
//
// They must be installed together: each depends on the others at their exact version, so npm
// finds them among the tarballs given and never asks the registry for an @jobpipe package.
// Exit code 1 when something is off (a dependency range that is not the exact version, a package
// not built), with what.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const out = resolve(outIndex >= 0 ? (args[outIndex + 1] ?? '') : join(root, 'packs'));
const build = !args.includes('--no-build');
const unknown = args.filter((arg, i) => !['--out', '--no-build'].includes(arg) && !(outIndex >= 0 && i === outIndex + 1));
if (unknown.length > 0 || (outIndex >= 0 && !args[outIndex + 1])) {
  process.stderr.write(`usage: node scripts/pack.mjs [--out DIR] [--no-build]${unknown.length > 0 ? ` (unknown: ${unknown.join(' ')})` : ''}\n`);
  process.exit(2);
}
const fail = (message) => {
  process.stderr.write(`pack: ${message}\n`);
  process.exit(1);
};
// npm's own settings from an `npm run` around this script (npm_config_*) are for the repository.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const workspaces = readJson(join(root, 'package.json')).workspaces.map((dir) => ({ dir, pkg: readJson(join(root, dir, 'package.json')) }));
const packable = workspaces.filter(({ pkg }) => !pkg.private);
const byName = new Map(workspaces.map((w) => [w.pkg.name, w]));

// Every @jobpipe dependency of a packed package must be packed too, at exactly its version.
for (const { pkg } of packable) {
  for (const [name, range] of Object.entries(pkg.dependencies ?? {})) {
    const target = byName.get(name);
    if (!target) continue;
    if (target.pkg.private) fail(`${pkg.name} depends on ${name}, which is private`);
    if (range !== target.pkg.version)
      fail(
        `${pkg.name} depends on ${name}@${range}: make it "${target.pkg.version}", its version, so the tarballs installed together resolve among themselves`,
      );
  }
}

if (build) execFileSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit', env: npmEnv });
for (const { dir, pkg } of packable) {
  const entries = [pkg.main, ...Object.values(pkg.bin ?? {})].filter(Boolean);
  if (!existsSync(join(root, dir, 'dist'))) fail(`${pkg.name} is not built (${dir}/dist is missing): run npm run build`);
  for (const entry of entries) if (!existsSync(join(root, dir, entry))) fail(`${pkg.name}: ${dir}/${entry} is missing`);
}

mkdirSync(out, { recursive: true });
// Only tarballs of this run: `*.tgz` in the install command must not pick up an older version.
for (const name of readdirSync(out)) if (/^jobpipe-.*\.tgz$/.test(name)) rmSync(join(out, name));
if (out.startsWith(`${root}/`)) writeFileSync(join(out, '.gitignore'), '# npm run pack output\n*\n');

const packed = JSON.parse(
  execFileSync(npm, ['pack', '--json', '--pack-destination', out, ...packable.flatMap(({ dir }) => ['--workspace', dir])], {
    cwd: root,
    env: npmEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  }),
);
if (packed.length !== packable.length) fail(`npm pack made ${packed.length} tarballs for ${packable.length} packages`);

const kb = (bytes) => `${Math.round(bytes / 1024)} kB`;
for (const { name, version, filename, size, entryCount } of packed) {
  process.stdout.write(`  ${`${name}@${version}`.padEnd(30)} ${filename.padEnd(36)} ${String(entryCount).padStart(4)} files  ${kb(size).padStart(7)}\n`);
}
const where = relative(process.cwd(), out) || '.';
process.stdout.write(`\n${packed.length} packages in ${where}/. In your own project, install them together with:\n\n  npm install ${join(out, '*.tgz')}\n`);
