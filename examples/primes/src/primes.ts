/** Counts primes in [from, to) by trial division: deliberately CPU-bound, to keep workers busy. */
export function countPrimesInRange(from: number, to: number): number {
  let count = 0;
  for (let n = Math.max(2, from); n < to; n++) if (isPrime(n)) count++;
  return count;
}

function isPrime(n: number): boolean {
  if (n < 4) return n >= 2;
  if (n % 2 === 0 || n % 3 === 0) return false;
  for (let d = 5; d * d <= n; d += 6) if (n % d === 0 || n % (d + 2) === 0) return false;
  return true;
}

/** Counts primes below `limit` with a sieve of Eratosthenes: a different method, to check the pipeline's answer. */
export function countPrimesBelow(limit: number): number {
  if (limit < 3) return 0;
  const composite = new Uint8Array(limit);
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (composite[n]) continue;
    count++;
    for (let m = n * n; m < limit; m += n) composite[m] = 1;
  }
  return count;
}
