export { default as primesPipeline, checkInput } from './pipeline.js';
export { countPrimesBelow, countPrimesInRange } from './primes.js';
