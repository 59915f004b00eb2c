import { UsageError } from '../usage-error.js';
import { Command, InvalidArgumentError } from 'commander';
import { TopModel } from './top-model.js';
import { renderTop, screenFrame, TERM } from './render.js';

const TARGETS_ENV = 'JOBPIPE_TOP_TARGETS';

/** `jobpipe top`: a live view of a running pipeline, read from its processes' /metrics. */
export function topCommand(): Command {
  return new Command('top')
    .summary("live view of a running pipeline from its processes' /metrics")
    .description(
      "live view of a running pipeline from its processes' /metrics: throughput and its sparkline, in flight, " +
        "per-worker jobs/s and busy slots, the balance index, and the batch's progress with an ETA (from the last 30 s " +
        'of progress). On a terminal it redraws in place until q (or Ctrl-C); with --once, or when its output is not ' +
        'a terminal, it prints plain text.',
    )
    .argument(
      '[targets...]',
      `metrics addresses (host:port or URLs) of the ventilator, the sink and the workers (default: the addresses in ${TARGETS_ENV}, separated by commas or spaces)`,
    )
    .option('--interval-ms <ms>', 'time between two scrapes, in ms (at least 100)', intervalMs, 1000)
    .option('--once', 'print one frame as plain text (after two scrapes, --interval-ms apart) and exit')
    .action(async (args: string[], options: { intervalMs: number; once?: boolean }) => {
      const given = args.length > 0 ? args : (process.env[TARGETS_ENV] ?? '').split(/[\s,]+/).filter(Boolean);
      if (given.length === 0) {
        process.stderr.write(`jobpipe: give the metrics addresses to watch, e.g. jobpipe top localhost:9401 localhost:9402 (or ${TARGETS_ENV})\n`);
        process.exit(2);
      }
      const model = new TopModel(given.map(toMetricsUrl));
      const interval = options.intervalMs;
      if (options.once) {
        await model.tick();
        await sleep(interval);
        process.stdout.write(onceText(await model.tick(), process.stdout.columns || 100));
        return;
      }
      await (process.stdout.isTTY && process.env.TERM !== 'dumb' ? live(model, interval) : plainFrames(model, interval));
    });
}

/** What --once prints: one frame, plain text, no keys to press. */
export function onceText(view: Awaited<ReturnType<TopModel['tick']>>, columns: number): string {
  return `${renderTop(view, { columns }).join('\n')}\n`;
}

/** On a terminal: the alternate screen, each frame drawn over the last, q quits. */
async function live(model: TopModel, interval: number): Promise<void> {
  const keys = process.stdin.isTTY === true;
  const size = () => ({ columns: process.stdout.columns || 100, rows: process.stdout.rows || 0 });
  let view: Awaited<ReturnType<TopModel['tick']>> | undefined;
  const draw = (clearFirst = false) => {
    if (view) process.stdout.write((clearFirst ? TERM.clearScreen : '') + screenFrame(renderTop(view, { columns: size().columns, quitHint: keys }), size()));
  };
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    if (keys) process.stdin.setRawMode(false);
    process.stdout.write(TERM.showCursor + TERM.leaveAlternate);
  };
  const quit = () => {
    restore();
    process.exit(0);
  };
  process.on('exit', restore);
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  if (keys) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', (key: Buffer) => {
      const text = key.toString();
      if (text === 'q' || text === 'Q' || text === '\x03') quit();
    });
  }
  // A resized terminal has the old frame wrapped or cut: clear it once, then draw.
  process.stdout.on('resize', () => draw(true));
  process.stdout.write(TERM.enterAlternate + TERM.hideCursor + TERM.clearScreen);
  for (;;) {
    view = await model.tick();
    draw();
    await sleep(interval);
  }
}

/** Output that is not a terminal (a pipe, a file, TERM=dumb): each frame as plain text, a blank line between. */
async function plainFrames(model: TopModel, interval: number): Promise<void> {
  for (let first = true; ; first = false) {
    const view = await model.tick();
    process.stdout.write(`${first ? '' : '\n'}${renderTop(view, { columns: process.stdout.columns || 100 }).join('\n')}\n`);
    await sleep(interval);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function intervalMs(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < 100) throw new InvalidArgumentError('must be a whole number of ms, at least 100');
  return value;
}

/** A target as the URL of its /metrics; a UsageError (one line, exit code 2) for one that is no address. */
export function toMetricsUrl(target: string): string {
  const url = /^https?:\/\//.test(target) ? target : `http://${target}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${target} is not a metrics address: give host:port or a URL`);
  }
  return parsed.pathname === '/' ? `${url.replace(/\/$/, '')}/metrics` : url;
}
