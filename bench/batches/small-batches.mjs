#!/usr/bin/env node
// usage: node bench/batches/small-batches.mjs [--batches 10000] [--submitters 8] [--window 16] [--workers 2] [--json FILE] [--profile DIR]
// Many small batches, durable: --batches batches of 1-10 echo jobs, submitted by --submitters
// concurrent submitters (each with up to --window submissions under way) through the intake, as
// producers would. batches/s: from the first submission to the last BatchCompleted event.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stopOnSignals } from '../baselines/common.mjs';
import { durableStack, wholeNumbers } from './durable-stack.mjs';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '10000' },
    submitters: { type: 'string', default: '8' },
    window: { type: 'string', default: '16' },
    workers: { type: 'string', default: '2' },
    json: { type: 'string' },
    profile: { type: 'string' },
  },
});
const [batches, submitters, window, workers] = wholeNumbers(args, ['batches', 'submitters', 'window', 'workers']);

const d = await durableStack({ workers, profile: args.profile });
// bench/run.mjs stops a run that takes too long with SIGTERM.
const stop = stopOnSignals(() => d.stop());
try {
  const sizes = Array.from({ length: batches }, (_, i) => 1 + ((i * 7) % 10));
  const ids = sizes.map((_, i) => `small-${i}`);
  const done = ids.map((id) => d.events.completed(id, 600_000));
  let next = 0;
  const started = performance.now();
  // Each submitter is a lane of `window` submissions under way: --submitters x --window at once.
  const lane = async () => {
    while (next < batches) {
      const i = next++;
      await d.client.submit(d.pipeline, { jobs: sizes[i] }, { batchId: ids[i] });
    }
  };
  await Promise.all(Array.from({ length: submitters * window }, lane));
  const submittedSeconds = (performance.now() - started) / 1000;
  const summaries = await Promise.all(done);
  const seconds = (performance.now() - started) / 1000;
  const jobs = sizes.reduce((sum, n) => sum + n, 0);
  const failed = summaries.reduce((sum, s) => sum + s.failed, 0);
  if (failed > 0) throw new Error(`${failed} jobs failed`);
  const row = {
    system: 'jobpipe-small-batches',
    batches,
    jobs,
    submitters,
    window,
    seconds,
    submittedSeconds,
    batchesPerSecond: Math.round(batches / seconds),
  };
  process.stdout.write(`${JSON.stringify(row)}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(row, null, 2)}\n`);
} finally {
  await stop();
}
