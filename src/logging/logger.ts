import { pino, type Logger, type DestinationStream } from 'pino';

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
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
