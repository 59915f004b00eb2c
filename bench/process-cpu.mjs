// Shared by the bench scripts that measure CPU per message, per call or per job.
import { readFileSync } from 'node:fs';

/**
 * What the bench scripts read of a process's or a thread's `stat` file in /proc: its command
 * name, its parent's pid, the CPU it has used (utime + stime, in 10 ms ticks) and its nice value.
 * The name can hold spaces and parentheses, so the fields are counted from its last ')'.
 */
export function readStat(path) {
  const stat = readFileSync(path, 'utf8');
  const close = stat.lastIndexOf(')');
  // After "(comm) ": state ppid ... utime is field 14 of the line, so index 11 here; nice is 19.
  const fields = stat.slice(close + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
    nice: Number(fields[16]),
  };
}

/** CPU time a process has used, all threads, in µs. */
export function cpuMicros(pid) {
  return readStat(`/proc/${pid}/stat`).ticks * 10_000;
}
