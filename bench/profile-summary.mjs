#!/usr/bin/env node
// usage: node bench/profile-summary.mjs DIR [--top 12]
// Sums the self time of the V8 CPU profiles in DIR (from `node bench/throughput.mjs --profile DIR`)
// by process and by where the time went: garbage collection, JSON, the codec's validation,
// zeromq.js, ioredis, pino, prom-client, Node's internals, and jobpipe's own packages. Prints one
// Markdown table per process with the share of its busy time (idle excluded), and its top functions.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '12' } } });
const dir = positionals[0];
if (!dir) {
  process.stderr.write('usage: node bench/profile-summary.mjs DIR [--top 12]\n');
  process.exit(2);
}

/** Where a function's time goes, from its script's URL and its name. */
function category({ url, functionName }) {
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return 'V8 and native, unattributed';
  if (/^(parse|stringify)$/.test(functionName) && url === '') return 'JSON';
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return module[1] === '@sinclair/typebox' ? 'typebox (codec validation)' : module[1];
  const own = /\/(libs|apps|examples|cli)\/([^/]+)\/dist\//.exec(url);
  if (own) return `jobpipe ${own[1] === 'libs' ? 'libs' : own[1]}/${own[2]}`;
  if (url.startsWith('node:') || url === '') return 'Node internals and builtins';
  return url;
}

/** The role whose app code has the most self time (the CLI loads every role's settings). */
function roleOf(categories) {
  const apps = [...categories].filter(([where]) => /^jobpipe apps\//.test(where)).sort((a, b) => b[1] - a[1]);
  return apps[0]?.[0].replace('jobpipe apps/', '') ?? 'other';
}

for (const file of readdirSync(dir)
  .filter((name) => name.endsWith('.cpuprofile'))
  .sort()) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let busy = 0;
  const categories = new Map();
  const functions = new Map();
  for (const [id, micros] of self) {
    const node = byId.get(id);
    if (node.callFrame.functionName === '(idle)') continue;
    busy += micros;
    const where = category(node.callFrame);
    categories.set(where, (categories.get(where) ?? 0) + micros);
    const name = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
  }
  const share = (micros) => `${((100 * micros) / busy).toFixed(1)}%`;
  console.log(`\n### ${roleOf(categories)} (${file}): ${(busy / 1e6).toFixed(2)} s busy\n`);
  console.log('| where | share of busy time |\n|---|---|');
  for (const [where, micros] of [...categories].sort((a, b) => b[1] - a[1])) if (micros / busy >= 0.005) console.log(`| ${where} | ${share(micros)} |`);
  console.log(
    `\ntop functions: ${[...functions]
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(values.top))
      .map(([name, micros]) => `${name} ${share(micros)}`)
      .join('; ')}`,
  );
}
