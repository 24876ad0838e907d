/**
 * Structured JSON logs (pino). Never pass message text or credentials: the redact
 * list is a second line of defence for fields that might carry them.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'skein-relay' },
    redact: {
      paths: ['text', '*.text', 'token', '*.token', 'password', '*.password', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
