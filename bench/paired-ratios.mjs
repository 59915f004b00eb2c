// What pairs of runs say of the ratio between two systems: an estimate, and how far it could be
// off. Each pair's two runs are next to each other in time, so a pair's ratio is one sample, and
// the machine's drift over minutes is left out of it. Its log is taken, so that 0.95x and 1.05x
// weigh alike, and the bounds are Student's t over the logs' mean (few pairs, spread unknown).
import jstat from 'jstat';

/**
 * The geometric mean of `ratios`, and its one-sided bounds at `confidence` (the ratio is below
 * `upper` with that confidence, above `lower` with the same). `spread` is the standard deviation
 * of one pair's log ratio: about the spread of one pair's ratio, as a share.
 */
export function pairedRatio(ratios, confidence = 0.95) {
  if (ratios.length < 2) throw new RangeError(`bounds need at least 2 pairs, got ${ratios.length}`);
  if (!ratios.every((ratio) => Number.isFinite(ratio) && ratio > 0)) throw new RangeError(`ratios must be positive numbers, got ${ratios.join(', ')}`);
  const logs = ratios.map(Math.log);
  const pairs = logs.length;
  const mean = logs.reduce((sum, log) => sum + log, 0) / pairs;
  const spread = Math.sqrt(logs.reduce((sum, log) => sum + (log - mean) ** 2, 0) / (pairs - 1));
  const margin = (jstat.studentt.inv(confidence, pairs - 1) * spread) / Math.sqrt(pairs);
  return { pairs, confidence, estimate: Math.exp(mean), lower: Math.exp(mean - margin), upper: Math.exp(mean + margin), spread };
}

/**
 * Whether the ratio is at most `limit`: 'met' when the upper bound is, 'not met' when the lower
 * bound is above it, and 'undecided' when the limit lies between the bounds.
 */
export function verdict({ lower, upper }, limit) {
  if (upper <= limit) return 'met';
  return lower > limit ? 'not met' : 'undecided';
}

/**
 * About how many pairs would decide, if the estimate and the spread stayed as they are: the fewest
 * whose bound would no longer reach across `limit` (undefined when the estimate is the limit).
 */
export function pairsToDecide({ estimate, spread, confidence }, limit) {
  const gap = Math.abs(Math.log(limit) - Math.log(estimate));
  if (gap === 0) return undefined;
  for (let pairs = 2; pairs <= 100_000; pairs++) if ((jstat.studentt.inv(confidence, pairs - 1) * spread) / Math.sqrt(pairs) < gap) return pairs;
  return undefined;
}
