// Structured logs (pino) for every kubeqa process. Secrets never reach a log line: the keys below
// are redacted wherever they appear.
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export const REDACTED_KEYS = [
  'password',
  'secret',
  'token',
  'apiSecret',
  'authorization',
  'csrfToken',
  '*.password',
  '*.secret',
  '*.token',
  '*.apiSecret',
  '*.authorization',
  '*.csrfToken',
  'req.headers.authorization',
  'req.headers["x-api-hash"]',
  'req.headers.cookie',
];

export function createLogger(name: string, level = process.env.KUBEQA_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACTED_KEYS, censor: '[redacted]' } });
}
