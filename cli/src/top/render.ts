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

/** `1 target`, `2 targets`, `1,000 jobs`. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${number(count)} ${count === 1 ? noun : nouns}`;
}

/**
 * A duration as an ETA reads best: as precise as it is worth (an estimate of an hour is not
 * worth its seconds). `8 s`, `25 s`, `2 min 30 s`, `14 min`, `2 h 5 min`.
 */
export function formatEta(seconds: number): string {
  if (seconds < 10) return `${Math.max(1, Math.ceil(seconds))} s`;
  if (seconds < 57.5) return `${Math.round(seconds / 5) * 5} s`;
  if (seconds < 595) {
    const tens = Math.round(seconds / 10) * 10;
    const rest = tens % 60;
    return `${Math.floor(tens / 60)} min${rest ? ` ${rest} s` : ''}`;
  }
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const rest = minutes % 60;
  return `${Math.floor(minutes / 60)} h${rest ? ` ${rest} min` : ''}`;
}

export interface RenderOptions {
  /** Terminal width: the bars take what the text leaves. */
  columns?: number;
  /** Live on a terminal whose keys are read: the header says `(q quits)`. */
  quitHint?: boolean;
}

/** One screen of `jobpipe top`, as lines of plain text. */
export function renderTop(view: TopView, { columns = 100, quitHint = false }: RenderOptions = {}): string[] {
  const width = Math.max(20, Math.min(60, columns - 50));
  const down = view.targets.filter((target) => !target.ok).map((target) => target.url);
  const lines = [
    `jobpipe top  ${new Date(view.at).toISOString().slice(11, 19)}  ${plural(view.targets.length, 'target')}${down.length ? `, ${down.length} not answering` : ''}${quitHint ? '   (q quits)' : ''}`,
    '',
    `throughput  ${number(view.throughput).padStart(9)} jobs/s  ${sparkline(view.history, width)}`,
    `in flight   ${number(view.inFlight).padStart(9)}         workers connected ${view.workersConnected}   redelivered ${number(view.redelivered)}   dead-lettered ${number(view.deadLettered)} (since start)`,
  ];
  if (view.batchExpected > 0) {
    const fraction = view.batchDone / view.batchExpected;
    const eta = view.etaSeconds === null ? '' : `  ETA ${formatEta(view.etaSeconds)}`;
    lines.push(
      `batch       ${number(view.batchDone)}/${number(view.batchExpected)} ${(100 * fraction).toFixed(1)}%  ${bar(fraction, width)}${eta}  (${plural(view.batchesOpen, 'batch', 'batches')} open)`,
    );
  } else {
    lines.push(`batch       ${view.batchesOpen > 0 ? `${plural(view.batchesOpen, 'batch', 'batches')} open, splitting` : 'none running'}`);
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

/** Escape sequences of the live view (xterm and every terminal since the VT100). */
export const TERM = {
  /** The alternate screen, as full-screen programs use, and back: the shell's screen is left as it was. */
  enterAlternate: '\x1b[?1049h',
  leaveAlternate: '\x1b[?1049l',
  hideCursor: '\x1b[?25l',
  showCursor: '\x1b[?25h',
  home: '\x1b[H',
  clearLineEnd: '\x1b[K',
  clearScreenEnd: '\x1b[J',
  clearScreen: '\x1b[2J',
} as const;

/**
 * One frame drawn over the last in place, so nothing flickers: the cursor goes home, each line
 * overwrites the one below it and clears what is left of it, and the rest of the screen is
 * cleared. Lines are cut to the width (a wrapped line would push the frame down) and the frame to
 * the height (one line more would scroll it), the last line then saying how many are not shown;
 * a size of 0 (a terminal that does not say) cuts nothing.
 */
export function screenFrame(lines: string[], { columns = 100, rows = 40 }: { columns?: number; rows?: number } = {}): string {
  let shown = lines;
  if (rows > 0 && lines.length > rows) {
    const kept = Math.max(0, rows - 1);
    shown = [...lines.slice(0, kept), `(${plural(lines.length - kept, 'more line')}: a taller terminal shows them)`];
  }
  const fit = (line: string) => {
    const characters = [...line];
    return columns <= 0 || characters.length < columns ? line : characters.slice(0, columns - 1).join('');
  };
  return TERM.home + shown.map((line) => fit(line) + TERM.clearLineEnd).join('\r\n') + TERM.clearScreenEnd;
}
