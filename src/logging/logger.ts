import { pino, type Logger, type DestinationStream } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';
import type { LogFormat } from './log-format.js';

export type { Logger } from 'pino';

/**
 * Keys whose values are secrets wherever they appear in a log object. pino's redaction works on
 * paths, so the common nestings are listed; values are replaced, never logged.
 */
export const SECRET_KEYS: readonly string[] = [
  'token',
  'client_token',
  'root_token',
  'password',
  'secret',
  'secret_id',
  'private_key',
  'unseal_keys',
  'unseal_key',
  'unseal_keys_b64',
  'keys',
  'keys_base64',
  'key',
  'otp',
  'value',
  'api_key',
  'authorization',
  'x-vault-token',
  'passphrase',
  'credentials',
];

export const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  level: LogLevel;
  /** Where log lines go; the CLI passes standard error so stdout carries only data. */
  destination?: DestinationStream;
  /** Default: pretty when standard error is a terminal, JSON otherwise. Ignored with `destination`. */
  format?: LogFormat;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination ?? standardError(options.format ?? (process.stderr.isTTY ? 'pretty' : 'json')),
  );
}

/**
 * Synchronous in both formats: a command that fails and exits at once must not lose its last log
 * lines. Redaction has happened in pino before a line reaches either stream.
 */
function standardError(format: LogFormat): DestinationStream {
  if (format === 'json') return pino.destination({ fd: 2, sync: true });
  // Loaded only when asked for: it adds a twentieth of a second to the start of every command, which
  // scripts, pipes and CI (JSON) need not pay. Its type is the package's own.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
  });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
