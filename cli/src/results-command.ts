import { Command, InvalidArgumentError, Option } from 'commander';
import { common } from '@jobpipe/config';
import { redisAccess, withClient } from './admin-commands.js';
import { configFrom, addSettingOptions } from './settings-options.js';
import { UsageError } from './usage-error.js';

/** Results read per round trip to Redis when no --limit is smaller. */
const PAGE_SIZE = 1000;

/**
 * `jobpipe results <batch>`: a batch's recorded results as JSON lines, `{"seq":0,"value":...}`,
 * read a page at a time (never the whole batch in memory). With `--limit`, stops after about that
 * many and says on stderr where the next page starts (`--cursor`).
 */
export function resultsCommand(): Command {
  const command = addSettingOptions(
    new Command('results')
      .description(
        'print a batch\'s recorded results as JSON lines, {"seq":0,"value":...}, a page at a time (by seq once its split is over; dead letters are in jobpipe dead list)',
      )
      .argument('<batch>', 'the batch'),
    redisAccess,
  )
    .addOption(
      new Option(
        '--limit <n>',
        'print at most this many (before the split is over, whole pages: about this many), then the --cursor of the rest on stderr',
      ).argParser(count),
    )
    .addOption(new Option('--cursor <cursor>', 'start where a run with --limit stopped (the cursor it printed)').default('0'));
  command.action(async (batch: string) => {
    const config = configFrom(command, redisAccess);
    const { limit, cursor: start } = command.opts<{ limit?: number; cursor: string }>();
    await withClient(config, async (client) => {
      let cursor: string | null = start;
      let printed = 0;
      while (cursor !== null && (limit === undefined || printed < limit)) {
        const size: number = limit === undefined ? PAGE_SIZE : Math.min(PAGE_SIZE, limit - printed);
        let page: Awaited<ReturnType<typeof client.resultsPage>>;
        try {
          page = await client.resultsPage(batch, cursor, size);
        } catch (error) {
          if (error instanceof TypeError) throw new UsageError(`--cursor ${JSON.stringify(cursor)} is not a cursor that jobpipe results printed`);
          throw error;
        }
        if (!page)
          throw new UsageError(`batch ${batch} is unknown, or its results have expired (a done batch's keys stay for ${common.retention.env}, 24h by default)`);
        let lines = '';
        for (const { seq, valueJson } of page.results) lines += `{"seq":${seq},"value":${valueJson}}\n`;
        if (lines !== '' && !process.stdout.write(lines)) await new Promise((resolve) => process.stdout.once('drain', resolve));
        printed += page.results.length;
        cursor = page.next;
      }
      if (cursor !== null) process.stderr.write(`jobpipe: more results from --cursor ${cursor}\n`);
    });
  });
  return command;
}

/** A count from 1, for an option. */
function count(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < 1 || value > 1_000_000_000) throw new InvalidArgumentError('expected a whole number from 1');
  return value;
}
