import { curveKeyPair } from 'zeromq';
import type { CurveClient } from '@jobpipe/transport';

/**
 * The keys of a single run (the demo, a benchmark): a server key pair, the workers' key pair, the
 * ventilator's link key pair and an events key pair. Every role gets them through its environment,
 * which is fine on one machine (each role reads only its own settings); deployments use the _FILE
 * settings and give each role only its files. `client` is for the run's own subscriber
 * (BatchEvents), with the events key.
 */
export function runKeys(): { env: Record<string, string>; client: CurveClient } {
  const server = curveKeyPair();
  const worker = curveKeyPair();
  const link = curveKeyPair();
  const events = curveKeyPair();
  return {
    env: {
      JOBPIPE_CURVE_SERVER_SECRET: server.secretKey,
      JOBPIPE_CURVE_CLIENT_KEYS: worker.publicKey,
      JOBPIPE_CURVE_LINK_SECRET: link.secretKey,
      JOBPIPE_CURVE_LINK_KEYS: link.publicKey,
      JOBPIPE_CURVE_EVENTS_KEYS: events.publicKey,
      JOBPIPE_CURVE_SERVER_KEY: server.publicKey,
      JOBPIPE_CURVE_SECRET: worker.secretKey,
    },
    client: { serverKey: server.publicKey, secretKey: events.secretKey },
  };
}
