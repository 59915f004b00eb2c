/** One sample of the Prometheus text format: name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses a /metrics page (what prom-client serves) into samples; comments are skipped. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1]!, labels, value: parseValue(match[3]!) });
  }
  return samples;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Sum of the samples called `name` whose labels include `where`, grouped by label `by` (or all together under ''). */
export function sumBy(samples: Sample[], name: string, by?: string, where: Record<string, string> = {}): Map<string, number> {
  const sums = new Map<string, number>();
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(where).some(([key, value]) => sample.labels[key] !== value)) continue;
    const key = by ? (sample.labels[by] ?? '') : '';
    sums.set(key, (sums.get(key) ?? 0) + sample.value);
  }
  return sums;
}

/**
 * The value of metric `name` in a /metrics page, summed over the samples whose labels include
 * `labels`, or undefined when none matches. prom-client prints no sample for a labelled counter
 * never incremented: read undefined as 0.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return sumBy(parsePrometheusText(text), name, undefined, labels).get('');
}
