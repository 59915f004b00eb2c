import { hostname } from 'node:os';

/**
 * The worker's id when JOBPIPE_WORKER_ID is not set: the host name, followed by `-<pid>` unless
 * the process is PID 1.
 *
 * In a container the host name is the container's (compose) or the pod's (Kubernetes) name, and
 * the worker is its main process, PID 1 (the image's entrypoint is node itself): the id is the
 * name alone, stable for the container's life and the same after a restart of the process inside
 * it. On a shared host (the roles run by hand, or several workers under one supervisor) every
 * process gets its own id, `build-7-4711`, `build-7-4712`: per-worker counts, `jobpipe top` and
 * the balance index see each worker, where the host name alone made them one. (A container run
 * with an init, `docker run --init`, has node at a small fixed PID, so its id is stable too.)
 */
/** Longest worker id: an id of the protocol (PROTOCOL.md 7), and within ZeroMQ's 255-byte routing id with the pid and a random suffix after it. */
const MAX_WORKER_ID = 200;

/** JOBPIPE_WORKER_ID, checked: 1 to 200 characters, and as many bytes at most in UTF-8. */
export function workerId(raw: string): string {
  const id = raw.trim();
  if (id === '') throw new Error('is empty');
  if (Buffer.byteLength(id) > MAX_WORKER_ID) throw new Error(`is ${Buffer.byteLength(id)} bytes long: at most ${MAX_WORKER_ID}`);
  return id;
}

export function defaultWorkerId(host: string = hostname(), pid: number = process.pid): string {
  return pid === 1 ? host : `${host}-${pid}`;
}
