"""Pipeline `primes`: counts the primes in [from, to) by trial division, as
examples/primes/src/primes.ts does. Payload {"from": int, "to": int}; returns the count, which the
TypeScript sink's collect adds up. CPU-bound: Python threads share one core (the GIL), so for more
throughput run more worker processes rather than more slots.

    python3 -m jobpipe_worker jobpipe_worker.examples.primes
"""
from jobpipe_worker import pipeline


def is_prime(n):
    if n < 4:
        return n >= 2
    if n % 2 == 0 or n % 3 == 0:
        return False
    d = 5
    while d * d <= n:
        if n % d == 0 or n % (d + 2) == 0:
            return False
        d += 6
    return True


def count_primes_in_range(start, stop):
    return sum(1 for n in range(max(2, start), stop) if is_prime(n))


@pipeline("primes")
def count_primes(payload, ctx):
    # JSON numbers may arrive as 3.0; range() wants ints.
    return count_primes_in_range(int(payload["from"]), int(payload["to"]))


if __name__ == "__main__":
    from jobpipe_worker import run

    run()
