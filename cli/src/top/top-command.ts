import { Command } from 'commander';
import { TopModel } from './top-model.js';
import { renderTop } from './render.js';

const CLEAR = '\x1b[H\x1b[2J';

/** `jobpipe top`: a live view of a running pipeline, read from its processes' /metrics. */
export function topCommand(): Command {
  return new Command('top')
    .description("live view of a running pipeline from its processes' /metrics: throughput, in flight, workers, balance, batch ETA")
    .argument('[targets...]', 'metrics URLs or host:port of the ventilator, the sink and the workers')
    .option('--interval-ms <ms>', 'refresh interval', '1000')
    .option('--once', 'print one frame (after two scrapes) and exit')
    .action(async (args: string[], options: { intervalMs: string; once?: boolean }) => {
      const fromEnv = (process.env.JOBPIPE_TOP_TARGETS ?? '').split(',').filter(Boolean);
      const targets = [...args, ...fromEnv].map(toMetricsUrl);
      if (targets.length === 0) {
        process.stderr.write('jobpipe: give the metrics addresses to watch, e.g. jobpipe top localhost:9401 localhost:9402 (or JOBPIPE_TOP_TARGETS)\n');
        process.exit(2);
      }
      const interval = Math.max(100, Number(options.intervalMs) || 1000);
      const model = new TopModel(targets);
      if (options.once) {
        await model.tick();
        await new Promise((resolve) => setTimeout(resolve, interval));
        process.stdout.write(`${renderTop(await model.tick(), process.stdout.columns ?? 100).join('\n')}\n`);
        return;
      }
      let stopped = false;
      const quit = () => {
        stopped = true;
        if (process.stdin.isTTY) process.stdin.setRawMode(false);
        process.stdout.write('\n');
        process.exit(0);
      };
      if (process.stdin.isTTY) process.stdin.setRawMode(true);
      process.stdin.on('data', (key: Buffer) => {
        const text = key.toString();
        if (text === 'q' || text === 'Q' || text === '\x03') quit();
      });
      process.on('SIGINT', quit);
      while (!stopped) {
        const view = await model.tick();
        process.stdout.write(CLEAR + renderTop(view, process.stdout.columns ?? 100).join('\n') + '\n');
        await new Promise((resolve) => setTimeout(resolve, interval));
      }
    });
}

function toMetricsUrl(target: string): string {
  const url = /^https?:\/\//.test(target) ? target : `http://${target}`;
  return new URL(url).pathname === '/' ? `${url.replace(/\/$/, '')}/metrics` : url;
}
