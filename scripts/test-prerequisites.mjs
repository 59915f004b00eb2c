#!/usr/bin/env node
// usage: node scripts/test-prerequisites.mjs [--packages]
// Run first by `npm test`: names every program the tests need that this machine lacks, with the
// Debian packages that bring them, and exits 1 before ten minutes of failures say it less clearly.
// --packages prints only those packages, space-separated (nothing when none is missing), and exits
// 0: `.ci/run` installs them (as root) and then runs `npm test`. Node's own modules only, so it
// runs before `npm ci`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Whether `command args` runs and exits 0. */
const runs = (command, args = ['--version']) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;

const python = () => {
  if (process.env.JOBPIPE_PYTHON) return runs(process.env.JOBPIPE_PYTHON, ['-c', 'import zmq']);
  return ['python3', '/usr/bin/python3'].some((candidate) => runs(candidate, ['-c', 'import zmq']));
};
const chromium = process.env.JOBPIPE_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** What the tests start or call, and the Debian package that brings it. */
const needs = [
  { what: 'redis-server', found: () => runs('redis-server'), debian: 'redis-server' },
  { what: 'redis-cli', found: () => runs('redis-cli'), debian: 'redis-tools' },
  { what: 'prometheus', found: () => runs('prometheus'), debian: 'prometheus' },
  { what: 'promtool', found: () => runs('promtool'), debian: 'prometheus' },
  { what: 'docker-compose', found: () => runs('docker-compose'), debian: 'docker-compose' },
  { what: 'a python3 that imports zmq (or JOBPIPE_PYTHON)', found: python, debian: 'python3-zmq' },
  { what: `Chromium at ${chromium} (or JOBPIPE_TEST_CHROMIUM)`, found: () => existsSync(chromium), debian: 'chromium' },
  { what: 'git', found: () => runs('git'), debian: 'git' },
];

const missing = needs.filter((need) => !need.found());
const packages = [...new Set(missing.map((need) => need.debian))].join(' ');
if (process.argv.includes('--packages')) {
  if (packages) console.log(packages);
} else if (missing.length > 0) {
  console.error(`npm test: missing ${missing.map((need) => need.what).join(', ')}.`);
  console.error(`On Debian or Ubuntu: sudo apt-get install -y ${packages}   (or, as root, bash .ci/run: it installs them, then runs npm test)`);
  process.exit(1);
}
