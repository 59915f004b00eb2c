#!/usr/bin/env node
// usage: npm run fuzz -- [--cases 1000000] [--seed N]
// Feeds the codec random and mutated frames and reports every crash: decode must never throw and
// must answer either a message or a ProtocolError with a known reason. The seeds are the valid
// test vectors; mutations flip, insert, delete and truncate bytes, or splice two frames.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decode, MALFORMED_REASONS } from '../dist/index.js';
import { seededRandom } from '../../../scripts/seeded-random.mjs';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '1000000' }, seed: { type: 'string', default: String(Date.now() % 2 ** 31) } } });
const cases = Number(values.cases);
const seed = Number(values.seed);

const { next: random, int } = seededRandom(seed);

const seeds = JSON.parse(readFileSync(new URL('../vectors/valid.json', import.meta.url), 'utf8')).map((vector) => Buffer.from(vector.hex, 'hex'));
const interesting = [0x00, 0x01, 0x02, 0x22, 0x2c, 0x30, 0x39, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, 0xff];

function mutate(frame) {
  const bytes = [...frame];
  for (let n = 1 + int(4); n > 0; n--) {
    const at = int(bytes.length + 1);
    switch (int(6)) {
      case 0:
        if (bytes.length) bytes[Math.min(at, bytes.length - 1)] ^= 1 << int(8);
        break;
      case 1:
        bytes.splice(at, 0, random() < 0.5 ? int(256) : interesting[int(interesting.length)]);
        break;
      case 2:
        bytes.splice(at, 1 + int(8));
        break;
      case 3:
        bytes.length = Math.min(bytes.length, at);
        break;
      case 4: {
        const other = seeds[int(seeds.length)];
        bytes.splice(at, 0, ...other.subarray(int(other.length)));
        break;
      }
      default:
        if (bytes.length) bytes[Math.min(at, bytes.length - 1)] = interesting[int(interesting.length)];
    }
  }
  return Buffer.from(bytes);
}

function randomFrame() {
  const length = int(64);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = int(256);
  if (length > 1 && random() < 0.5) bytes[0] = 1; // get past the version check half the time
  return bytes;
}

const reasons = new Set(MALFORMED_REASONS);
const tally = { ok: 0 };
const crashes = [];
const started = Date.now();
for (let i = 0; i < cases; i++) {
  const frame = random() < 0.8 ? mutate(seeds[int(seeds.length)]) : randomFrame();
  const options = random() < 0.1 ? { maxBytes: 4 + int(200) } : {};
  try {
    const result = decode(frame, options);
    if (result.ok) tally.ok++;
    else if (!reasons.has(result.error.reason)) throw new Error(`unknown reason ${result.error.reason}`);
    else tally[result.error.reason] = (tally[result.error.reason] ?? 0) + 1;
  } catch (error) {
    if (crashes.length < 20) crashes.push({ case: i, hex: frame.toString('hex').slice(0, 400), error: String(error?.stack ?? error) });
    else crashes.length++;
  }
}
const seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify({ cases, seed, seconds, casesPerSecond: Math.round(cases / seconds), crashes: crashes.length, outcomes: tally }));
for (const crash of crashes.slice(0, 20)) console.error(JSON.stringify(crash));
process.exitCode = crashes.length === 0 ? 0 : 1;
