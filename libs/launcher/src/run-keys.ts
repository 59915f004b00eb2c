import { curveKeyPair } from 'zeromq';
import type { CurveClient } from '@jobpipe/transport';

/**
 * A server key pair and one client key pair for a single run (the demo, a benchmark): every role
 * gets them through its environment, which is fine on one machine; deployments use the _FILE
 * settings. `client` is for the run's own subscriber (BatchEvents).
 */
export function runKeys(): { env: Record<string, string>; client: CurveClient } {
  const server = curveKeyPair();
  const client = curveKeyPair();
  return {
    env: {
      JOBPIPE_CURVE_SERVER_SECRET: server.secretKey,
      JOBPIPE_CURVE_CLIENT_KEYS: client.publicKey,
      JOBPIPE_CURVE_SERVER_KEY: server.publicKey,
      JOBPIPE_CURVE_SECRET: client.secretKey,
    },
    client: { serverKey: server.publicKey, secretKey: client.secretKey },
  };
}
