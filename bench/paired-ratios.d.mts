// Types of paired-ratios.mjs, for the tests that import it.
export interface PairedRatio {
  pairs: number;
  confidence: number;
  estimate: number;
  lower: number;
  upper: number;
  spread: number;
}
export function pairedRatio(ratios: readonly number[], confidence?: number): PairedRatio;
export function verdict(bounds: Pick<PairedRatio, 'lower' | 'upper'>, limit: number): 'met' | 'not met' | 'undecided';
export function pairsToDecide(estimate: Pick<PairedRatio, 'estimate' | 'spread' | 'confidence'>, limit: number): number | undefined;
