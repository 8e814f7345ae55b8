import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

/**
 * Paths redacted from every log line. Roster never logs bodies or query strings; these cover headers and
 * any object that is logged by mistake.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'token',
  'secret',
  'password',
  '*.token',
  '*.secret',
  '*.password',
  'userName',
  'emails',
  'phoneNumbers',
  'addresses',
  'name',
  'displayName',
  '*.userName',
  '*.emails',
  '*.phoneNumbers',
  '*.addresses',
  '*.displayName',
] as const;

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      base: { service: 'roster' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
