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
export function defaultWorkerId(host: string = hostname(), pid: number = process.pid): string {
  return pid === 1 ? host : `${host}-${pid}`;
}
