import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };
export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * A logger for one role; `bindings` (worker id and the like) go on every line. Lines are JSON
 * (what log collectors want) unless the output is a terminal or `format` is 'pretty': then the
 * same lines go through pino-pretty. Code logs the same way either way.
 */
export function createLogger(role: string, level: LevelWithSilent, bindings: Record<string, unknown> = {}, format: LogFormat = 'auto'): Logger {
  const options = {
    level,
    base: { role, pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const readable = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  // Written as logged (pino's default writes later): a role's last lines are out before it exits,
  // and when nothing reads stdout any more (a closed pipe), the write fails at once and pino drops
  // the lines that follow. Left pending instead, such a line is retried forever by pino's exit
  // hook (sonic-boom 4's flushSync), and the role never exits.
  if (!readable) return pino(options, pino.destination({ dest: 1, sync: true }));
  // Loaded only here: a role logging JSON (any container) does not pay its start-up (~25 ms of CPU).
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pino(options, pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
}
