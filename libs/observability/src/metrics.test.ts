import { describe, expect, it } from 'vitest';
import { Metrics } from './metrics.js';

describe('Metrics', () => {
  it('samples a gauge with series that come and go: each scrape holds exactly the series read gives', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let levels: [string, number][] = [
      ['1', 5],
      ['none', 7],
    ];
    metrics.sampleGaugeSeries(metrics.freshJobsWaiting, () => levels.map(([priority, jobs]) => [{ pipeline: 'p', priority }, jobs]));
    const scrape = async () => (await metrics.freshJobsWaiting.get()).values.map(({ labels, value }) => `${labels.priority}=${value}`);
    expect(await scrape()).toEqual(['1=5', 'none=7']);
    levels = [['none', 2]];
    expect(await scrape()).toEqual(['none=2']);
  });
});
