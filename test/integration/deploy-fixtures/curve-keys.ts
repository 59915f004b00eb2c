/**
 * What compose and Kubernetes must both get right about CURVE keys: the roles' loaded settings
 * form one key set (deploy-compose.test.ts, deploy-k8s.test.ts).
 */
import { expect } from 'vitest';
import { curveClientFrom, curvePublicKey, curveServerFrom } from '@jobpipe/transport';

/** `configs` holds each role's loaded settings: ventilator, sink and worker. */
export function expectOneKeySet(configs: Record<string, any>): void {
  const ventilator = curveServerFrom(configs.ventilator)!;
  const sink = curveServerFrom(configs.sink)!;
  const worker = curveClientFrom(configs.worker)!;
  for (const [name, side] of Object.entries({ ventilator, sink, worker })) expect(side, `CURVE on for the ${name}`).toBeDefined();
  expect(sink.secretKey, 'the servers share one key pair').toBe(ventilator.secretKey);
  expect(worker.serverKey, "the workers trust the servers' public key").toBe(curvePublicKey(ventilator.secretKey));
  for (const [name, server] of Object.entries({ ventilator, sink }))
    expect(server.allowedClients.has(curvePublicKey(worker.secretKey)), `the ${name} allows the workers' key`).toBe(true);
}

/**
 * A worker that is no jobpipe role here (the Python worker, workers/python), by the key files it
 * reads: it trusts the servers' public key and presents a key pair they allow. `configs` as above.
 */
export function expectWorkerKeysFit(configs: Record<string, any>, files: { serverKey: string; secretKey: string }, name: string): void {
  const ventilator = curveServerFrom(configs.ventilator)!;
  expect(files.serverKey.trim(), `${name} trusts the servers' public key`).toBe(curvePublicKey(ventilator.secretKey));
  for (const [role, server] of Object.entries({ ventilator, sink: curveServerFrom(configs.sink)! }))
    expect(server.allowedClients.has(curvePublicKey(files.secretKey.trim())), `the ${role} allows the key of ${name}`).toBe(true);
}
