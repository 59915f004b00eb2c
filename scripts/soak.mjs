#!/usr/bin/env node
// usage: npm run soak -- [--minutes 3] [--retention 30s] [--batches-per-second 5] [--jobs 50]
//                         [--payload-bytes 100] [--workers 2] [--sample-seconds 5] [--json out.json]
//
// Retention under a steady load: runs a sink, a ventilator and workers (echo pipeline) with a
// redis-server of its own, the sink's JOBPIPE_RETENTION short, and submits small batches at a
// steady rate (each with the same retention, as `jobpipe submit --retention` would, so that
// BullMQ's intake jobs go by the same age). Every few seconds it samples Redis's INFO memory
// (used_memory), the keys, the batches listed and the length of BullMQ's events stream (which
// BullMQ caps near 10,000 entries: it grows until then whatever the retention). At the end it
// says whether used_memory levels off once the first batches expire, and what Redis holds per
// 1,000 live jobs (jobs of batches not yet expired). Exits 1 when memory does not level off.
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatDuration, retention } from '@jobpipe/config';
import { JobpipeClient } from '@jobpipe/intake';
import { RedisServer, Stack } from '@jobpipe/launcher';
import { connectRedis, LedgerKeys } from '@jobpipe/ledger';
import { loadPipeline } from '@jobpipe/pipeline';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    retention: { type: 'string', default: '30s' },
    'batches-per-second': { type: 'string', default: '5' },
    jobs: { type: 'string', default: '50' },
    'payload-bytes': { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    'sample-seconds': { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const retentionMs = retention(values.retention);
const rate = Number(values['batches-per-second']);
const jobsPerBatch = Number(values.jobs);
const payloadBytes = Number(values['payload-bytes']);
const sampleMs = Number(values['sample-seconds']) * 1000;
if (!(minutes > 0) || !(retentionMs > 0) || !(rate > 0) || !(jobsPerBatch > 0) || !(sampleMs > 0)) {
  console.error('soak: --minutes, --retention, --batches-per-second, --jobs and --sample-seconds must be above 0');
  process.exit(2);
}
const PREFIX = 'jobpipe';
/** BullMQ trims a queue's events stream to about this many entries (its streams.events.maxLen default). */
const BULLMQ_EVENTS_CAP = 10_000;
const say = (line) => console.log(line);
const mb = (bytes) => `${(bytes / 1_048_576).toFixed(2)} MB`;

const server = await RedisServer.start({ appendOnly: false });
const stack = await Stack.start({
  command: [process.execPath, resolve(root, 'cli/dist/main.js')],
  pipeline: resolve(root, 'examples/echo/dist/pipeline.js'),
  workers: Number(values.workers),
  env: {
    JOBPIPE_LOG_LEVEL: 'warn',
    JOBPIPE_REDIS_URL: server.url,
    JOBPIPE_REDIS_PREFIX: PREFIX,
    JOBPIPE_RETENTION: String(retentionMs),
    JOBPIPE_DEAD_RETENTION: String(retentionMs),
  },
});
// Ctrl-C: every process it started goes with it.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    stack.killNow();
    server.killNow();
    process.exit(130);
  });
}
const redis = connectRedis(server.url);
redis.on('error', () => {});
const client = new JobpipeClient(redis, PREFIX);
const pipeline = await loadPipeline(resolve(root, 'examples/echo/dist/pipeline.js'));

async function usedMemory() {
  const info = await redis.info('memory');
  const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { used: field('used_memory'), dataset: field('used_memory_dataset') };
}

async function completed() {
  try {
    const text = await stack.sink.fetchText('/metrics', 2000);
    let total = 0;
    for (const match of text.matchAll(/^jobpipe_batches_completed_total(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/gm)) total += Number(match[1]);
    return total;
  } catch {
    return Number.NaN;
  }
}

const baseline = await usedMemory();
say(
  `soak: ${minutes} min, ${rate} batches/s of ${jobsPerBatch} jobs (${payloadBytes} B payloads), retention ${formatDuration(retentionMs)}, ` +
    `${values.workers} workers; Redis ${server.url}, used_memory at start ${mb(baseline.used)}`,
);

let submitted = 0;
let submitting = false;
let skipped = 0;
const submitter = setInterval(() => {
  // One submission at a time: a tick that finds the last one still going is skipped (and counted).
  if (submitting) return void skipped++;
  submitting = true;
  client
    .submit(pipeline, { jobs: jobsPerBatch, payloadBytes }, { retentionMs, deadRetentionMs: retentionMs })
    .then(() => submitted++)
    .catch((error) => console.error(`soak: submit failed: ${error.message}`))
    .finally(() => {
      submitting = false;
    });
}, 1000 / rate);

const samples = [];
const started = Date.now();
async function sample() {
  const memory = await usedMemory();
  const eventsKey = `${PREFIX}:${LedgerKeys.intakeQueue(pipeline.name)}:events`;
  const [keys, listed, expiring, events, eventsBytes, done] = await Promise.all([
    redis.dbsize(),
    redis.zcard(`${PREFIX}:batches`),
    redis.zcard(`${PREFIX}:expiring`),
    redis.xlen(eventsKey),
    redis.call('MEMORY', 'USAGE', eventsKey).then((bytes) => Number(bytes ?? 0)),
    completed(),
  ]);
  // What the batches hold: used_memory less BullMQ's events stream, which grows to its cap whatever the retention.
  const rest = memory.used - eventsBytes;
  const s = { t: Math.round((Date.now() - started) / 1000), used: memory.used, rest, eventsBytes, events, keys, listed, expiring, submitted, done };
  samples.push(s);
  say(
    `t=${String(s.t).padStart(4)} s  used_memory ${mb(s.used).padStart(9)} (BullMQ events ${String(events).padStart(5)}: ${mb(eventsBytes)}; the rest ${mb(rest)})  ` +
      `keys ${String(keys).padStart(5)}  batches listed ${String(listed).padStart(4)} (${(listed * jobsPerBatch).toLocaleString('en')} jobs)  submitted ${submitted}  done ${done}`,
  );
}
const sampler = setInterval(() => void sample().catch((error) => console.error(`soak: sample failed: ${error.message}`)), sampleMs);
await new Promise((resolve) => setTimeout(resolve, minutes * 60_000));
clearInterval(submitter);
clearInterval(sampler);
await sample();

// Steady state: from two retentions (and 20 s) in, when batches expire as fast as they come.
const settleS = Math.ceil((2 * retentionMs) / 1000) + 20;
const steady = samples.filter((s) => s.t >= settleS);
const result = {
  minutes,
  retentionMs,
  batchesPerSecond: rate,
  jobsPerBatch,
  payloadBytes,
  submitted,
  skippedTicks: skipped,
  done: samples.at(-1).done,
  baselineUsedMemory: baseline.used,
  samples,
};
if (steady.length < 4) {
  say(`soak: too short to judge: the steady state starts ${settleS} s in; run longer (--minutes) or with a shorter --retention`);
  process.exitCode = 1;
} else {
  const half = Math.floor(steady.length / 2);
  const mean = (list, key) => list.reduce((sum, s) => sum + s[key], 0) / list.length;
  // Least squares slope of a field over the steady samples, in bytes per minute.
  const slopeOf = (key) => {
    const tMean = mean(steady, 't');
    const vMean = mean(steady, key);
    return (steady.reduce((sum, s) => sum + (s.t - tMean) * (s[key] - vMean), 0) / steady.reduce((sum, s) => sum + (s.t - tMean) ** 2, 0)) * 60;
  };
  const first = mean(steady.slice(0, half), 'rest');
  const second = mean(steady.slice(half), 'rest');
  const growth = (second - first) / first;
  const last = steady.at(-1);
  const perThousand = steady
    .filter((s) => s.listed > 0)
    .map((s) => ((s.rest - baseline.used) / (s.listed * jobsPerBatch)) * 1000)
    .sort((a, b) => a - b);
  const median = perThousand[Math.floor(perThousand.length / 2)];
  // The cost of one more live job: used_memory (less the events stream) against live jobs over
  // every sample, least squares; the ramp up to the first expiries gives it its slope. The
  // average also carries what Redis holds for no batch (scripts, clients, BullMQ's queue).
  const xs = samples.map((s) => s.listed * jobsPerBatch);
  const xMean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const yMean = mean(samples, 'rest');
  const marginal = (samples.reduce((sum, s, i) => sum + (xs[i] - xMean) * (s.rest - yMean), 0) / xs.reduce((sum, x) => sum + (x - xMean) ** 2, 0)) * 1000;
  const bytesPerEvent = last.events > 0 ? last.eventsBytes / last.events : 0;
  const levelsOff = Math.abs(growth) < 0.05;
  Object.assign(result, {
    steadyFromSeconds: settleS,
    usedMemoryLessEvents: { firstHalfMean: Math.round(first), secondHalfMean: Math.round(second), growth, slopeBytesPerMinute: Math.round(slopeOf('rest')) },
    usedMemory: { first: steady[0].used, last: last.used, slopeBytesPerMinute: Math.round(slopeOf('used')) },
    bullmqEvents: { entries: last.events, bytes: last.eventsBytes, bytesPerEntry: Math.round(bytesPerEvent), capEntries: BULLMQ_EVENTS_CAP },
    liveJobs: Math.round(mean(steady, 'listed') * jobsPerBatch),
    bytesPer1000LiveJobs: { average: Math.round(median), marginal: Math.round(marginal) },
    levelsOff,
  });
  say('');
  say(`steady state (from ${settleS} s on):`);
  say(
    `  used_memory ${mb(steady[0].used)} -> ${mb(last.used)} (${(slopeOf('used') / 1024).toFixed(1)} KiB/min), of which BullMQ's events stream ${mb(last.eventsBytes)}`,
  );
  say(
    `  without that stream: ${mb(first)} in the first half, ${mb(second)} in the second (${(growth * 100).toFixed(1)}%, ${(slopeOf('rest') / 1024).toFixed(1)} KiB/min)`,
  );
  say(
    `  BullMQ's events stream: ${last.events} entries of about ${Math.round(bytesPerEvent)} B; BullMQ caps it near ${BULLMQ_EVENTS_CAP.toLocaleString('en')} ` +
      `(about ${mb(bytesPerEvent * BULLMQ_EVENTS_CAP)}), whatever the retention`,
  );
  say(
    `  about ${result.liveJobs.toLocaleString('en')} live jobs: Redis holds ${(median / 1024).toFixed(1)} KiB per 1,000 live jobs on average ` +
      `(above its start, the events stream left out), ${(marginal / 1024).toFixed(1)} KiB for each 1,000 more`,
  );
  say(levelsOff ? 'used_memory levels off: done batches expire as fast as new ones come' : 'used_memory does NOT level off');
  if (!levelsOff) process.exitCode = 1;
}
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);

await client.close();
redis.disconnect();
await stack.stop();
await server.stop();
