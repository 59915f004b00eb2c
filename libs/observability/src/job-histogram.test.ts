import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { JobHistogram } from './job-histogram.js';

const buckets = [0.001, 0.01, 0.1, 1];
// On a bound, above every bound, below zero, and in between: where prom-client puts each.
const observations = [0, 0.001, 0.0010001, 0.05, 0.1, 0.5, 1, 2, 300, -1, 0.009];

async function promClientText(labelSets: Record<string, string>[]): Promise<string> {
  const registry = new Registry();
  const histogram = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['pipeline'], buckets, registers: [registry] });
  for (const labels of labelSets) for (const value of observations) histogram.observe(labels, value);
  return registry.metrics();
}

async function jobHistogramText(labelSets: Record<string, string>[]): Promise<string> {
  const registry = new Registry();
  const histogram = new JobHistogram('x_seconds', 'h', ['pipeline'], buckets, registry);
  for (const labels of labelSets) {
    const series = histogram.labels(labels as Record<'pipeline', string>);
    for (const value of observations) series.observe(value);
  }
  return registry.metrics();
}

describe('JobHistogram', () => {
  it('is scraped exactly as a prom-client Histogram with the same observations', async () => {
    const labelSets = [{ pipeline: 'echo' }, { pipeline: 'primes' }, { pipeline: 'echo' }];
    const ours = await jobHistogramText(labelSets);
    expect(ours).toContain('x_seconds_bucket{le="0.01",pipeline="echo"} 10');
    expect(ours).toBe(await promClientText(labelSets));
  });

  it('keeps one series per label set, and skips what is not a finite number', () => {
    const histogram = new JobHistogram('y_seconds', 'h', ['pipeline'], buckets, new Registry());
    const series = histogram.labels({ pipeline: 'echo' });
    expect(histogram.labels({ pipeline: 'echo' })).toBe(series);
    series.observe(Number.NaN);
    series.observe(Number.POSITIVE_INFINITY);
    series.observe(0.5);
    expect([series.count, series.sum, [...series.counts]]).toEqual([1, 0.5, [0, 0, 0, 1, 0]]);
  });

  it('reset zeroes every series', async () => {
    const registry = new Registry();
    const histogram = new JobHistogram('z_seconds', 'h', ['pipeline'], buckets, registry);
    histogram.labels({ pipeline: 'echo' }).observe(0.5);
    registry.resetMetrics();
    expect(await registry.metrics()).toContain('z_seconds_count{pipeline="echo"} 0');
  });
});
