"""Example pipelines: primes and echo, the same work as the TypeScript examples."""
