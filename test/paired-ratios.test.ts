/**
 * bench/paired-ratios.mjs: the statistic the tracing target is judged on. Checked against values
 * worked out by hand, and against the t table (t 0.95 with 4 degrees of freedom is 2.132).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pairedRatio, pairsToDecide, verdict } from '../bench/paired-ratios.mjs';

describe('pairedRatio', () => {
  it('is the geometric mean, with bounds from t over the logs', () => {
    const ratios = [1.0, 1.1, 0.9, 1.05, 0.95];
    const logs = ratios.map(Math.log);
    const mean = logs.reduce((a, b) => a + b) / 5;
    const sd = Math.sqrt(logs.reduce((a, x) => a + (x - mean) ** 2, 0) / 4);
    const result = pairedRatio(ratios);
    expect(result.estimate).toBeCloseTo(Math.exp(mean), 12);
    expect(result.spread).toBeCloseTo(sd, 12);
    expect(result.upper).toBeCloseTo(Math.exp(mean + (2.1318 * sd) / Math.sqrt(5)), 4);
    expect(result.lower).toBeCloseTo(Math.exp(mean - (2.1318 * sd) / Math.sqrt(5)), 4);
  });

  it('narrows as pairs of the same spread are added', () => {
    const few = pairedRatio([1.0, 1.08, 1.02, 1.06]);
    const many = pairedRatio(Array.from({ length: 10 }, () => [1.0, 1.08, 1.02, 1.06]).flat());
    expect(many.estimate).toBeCloseTo(few.estimate, 12);
    expect(many.upper - many.lower).toBeLessThan((few.upper - few.lower) / 3);
  });

  it('keeps the estimate between its bounds, and the bounds on either side of every identical set', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.5, max: 2, noNaN: true }), { minLength: 2, maxLength: 50 }), (ratios) => {
        const { estimate, lower, upper } = pairedRatio(ratios);
        expect(lower).toBeLessThanOrEqual(estimate * (1 + 1e-12));
        expect(upper).toBeGreaterThanOrEqual(estimate * (1 - 1e-12));
        expect(estimate).toBeGreaterThanOrEqual(Math.min(...ratios) * (1 - 1e-12));
        expect(estimate).toBeLessThanOrEqual(Math.max(...ratios) * (1 + 1e-12));
      }),
    );
  });

  it('refuses one pair, and a ratio that is not a positive number', () => {
    expect(() => pairedRatio([1.02])).toThrow(/at least 2 pairs/);
    expect(() => pairedRatio([1.02, 0])).toThrow(/positive numbers/);
    expect(() => pairedRatio([1.02, Number.NaN])).toThrow(/positive numbers/);
  });
});

describe('verdict', () => {
  it('is met only when the upper bound is within the limit, not met only when the lower bound is beyond it', () => {
    expect(verdict({ lower: 1.0, upper: 1.05 }, 1.05)).toBe('met');
    expect(verdict({ lower: 1.0, upper: 1.051 }, 1.05)).toBe('undecided');
    expect(verdict({ lower: 1.05, upper: 1.2 }, 1.05)).toBe('undecided');
    expect(verdict({ lower: 1.051, upper: 1.2 }, 1.05)).toBe('not met');
  });
});

describe('pairsToDecide', () => {
  it('is about (z x spread / gap)^2 pairs, more with a wider spread or an estimate nearer the limit', () => {
    const estimate = { estimate: 1.03, spread: 0.07, confidence: 0.95 };
    const pairs = pairsToDecide(estimate, 1.05)!;
    // With z = 1.645 in place of t: (1.645 x 0.07 / ln(1.05 / 1.03))^2 = 35.9; t adds a little.
    expect(pairs).toBeGreaterThanOrEqual(36);
    expect(pairs).toBeLessThanOrEqual(40);
    expect(pairsToDecide({ ...estimate, spread: 0.14 }, 1.05)!).toBeGreaterThan(3.5 * pairs);
    expect(pairsToDecide({ ...estimate, estimate: 1.04 }, 1.05)!).toBeGreaterThan(3.5 * pairs);
    // An estimate as far above the limit takes about as many to show it is over.
    expect(Math.abs(pairsToDecide({ ...estimate, estimate: 1.05 ** 2 / 1.03 }, 1.05)! - pairs)).toBeLessThanOrEqual(1);
  });

  it('is undefined when the estimate is the limit', () => {
    expect(pairsToDecide({ estimate: 1.05, spread: 0.07, confidence: 0.95 }, 1.05)).toBeUndefined();
  });
});
