/**
 * The pino root logger: one JSON object per line on stdout. Components take a child logger
 * (`rootLogger.child({ component: 'pool' })`) rather than creating their own.
 */
import pino from 'pino';

export type LogLevel = pino.LevelWithSilent;

/** A JSON logger writing to stdout at `level`. */
export function createLogger(level: LogLevel = 'info'): pino.Logger {
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level names ("info") rather than numbers (30), so logs read without a lookup table.
    formatters: { level: (label) => ({ level: label }) },
  });
}

const LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const envLevel = process.env.TENANTGATE_LOG_LEVEL;

/** Process-wide logger; level from TENANTGATE_LOG_LEVEL (default info) until the config sets it. */
export const rootLogger: pino.Logger = createLogger(envLevel && LEVELS.includes(envLevel) ? (envLevel as LogLevel) : 'info');
