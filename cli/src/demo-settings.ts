import { integer, setting } from '@jobpipe/config';

export const demoSettings = {
  workers: setting({ env: 'JOBPIPE_DEMO_WORKERS', flag: 'workers', description: 'worker processes to start', default: 3, parse: integer(1, 64) }),
  limit: setting({
    env: 'JOBPIPE_DEMO_LIMIT',
    flag: 'limit',
    description: 'count the primes below this number',
    default: 20_000_000,
    parse: integer(2, 1_000_000_000),
  }),
  chunk: setting({ env: 'JOBPIPE_DEMO_CHUNK', flag: 'chunk', description: 'numbers per job', default: 100_000, parse: integer(1, 1_000_000_000) }),
  timeoutMs: setting({
    env: 'JOBPIPE_DEMO_TIMEOUT_MS',
    flag: 'timeout-ms',
    description: 'give up when the batch takes longer',
    default: 300_000,
    parse: integer(1000, 86_400_000),
  }),
};
