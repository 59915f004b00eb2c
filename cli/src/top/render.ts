import type { TopView } from './top-model.js';

const SPARKS = '▁▂▃▄▅▆▇█';
const number = (value: number) => Math.round(value).toLocaleString('en-US');

export function sparkline(values: number[], width = 40): string {
  const shown = values.slice(-width);
  const max = Math.max(...shown, 1);
  return shown.map((value) => SPARKS[Math.min(SPARKS.length - 1, Math.floor((value / max) * (SPARKS.length - 1)))]).join('');
}

export function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** One screen of `jobpipe top`, as lines of plain text. */
export function renderTop(view: TopView, columns = 100): string[] {
  const width = Math.max(20, Math.min(60, columns - 50));
  const down = view.targets.filter((target) => !target.ok).map((target) => target.url);
  const lines = [
    `jobpipe top  ${new Date(view.at).toISOString().slice(11, 19)}  ${view.targets.length} targets${down.length ? `, ${down.length} not answering` : ''}   (q quits)`,
    '',
    `throughput  ${number(view.throughput).padStart(9)} jobs/s  ${sparkline(view.history, width)}`,
    `in flight   ${number(view.inFlight).padStart(9)}         workers connected ${view.workersConnected}   redelivered ${number(view.redelivered)}   dead letters ${number(view.deadLettered)}`,
  ];
  if (view.batchExpected > 0) {
    const fraction = view.batchDone / view.batchExpected;
    const eta = view.etaSeconds === null ? '' : `  ETA ${view.etaSeconds.toFixed(1)} s`;
    lines.push(`batch       ${number(view.batchDone)}/${number(view.batchExpected)} ${(100 * fraction).toFixed(1)}%  ${bar(fraction, width)}${eta}  (${view.batchesOpen} open)`);
  } else {
    lines.push(`batch       ${view.batchesOpen > 0 ? `${view.batchesOpen} open, splitting` : 'none running'}`);
  }
  lines.push(`balance     Jain index ${view.fairness === null ? '-' : view.fairness.toFixed(3)} (1 = even)`, '');
  const maxRate = Math.max(...view.workers.map((worker) => worker.rate), 1);
  lines.push(`${'worker'.padEnd(20)} ${'jobs/s'.padStart(9)}  ${''.padEnd(width)}  busy`);
  for (const worker of view.workers) {
    lines.push(`${worker.id.slice(0, 20).padEnd(20)} ${number(worker.rate).padStart(9)}  ${bar(worker.rate / maxRate, width)}  ${worker.busy}/${worker.slots}`);
  }
  if (view.workers.length === 0) lines.push('(no worker has reported yet)');
  if (down.length) lines.push('', ...down.map((url) => `not answering: ${url}`));
  return lines;
}
