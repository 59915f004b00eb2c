import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** A JSON-lines logger for one role; `bindings` (worker id and the like) go on every line. */
export function createLogger(role: string, level: LevelWithSilent, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { role, pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
