import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

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
  if (!readable) return pino(options);
  return pino(options, pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
}
