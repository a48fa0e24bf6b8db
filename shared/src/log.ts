// Structured JSON logs (pino). Events are snake_case messages with structured fields.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, level: string = 'info'): Logger {
  return pino({ name: service, level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime });
}
