// Shared by the bench scripts that measure CPU per message or per call.
import { readFileSync } from 'node:fs';

/** CPU time a process has used, all threads (utime + stime from /proc, in 10 ms ticks), in µs. */
export function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
