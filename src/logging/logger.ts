import { pino, type Logger, type DestinationStream, type LoggerOptions as PinoOptions } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';
import type { LogFormat } from './log-format.js';
import { redactor } from './redactor.js';

export type { Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  level: LogLevel;
  /** Where log lines go; the CLI passes standard error so stdout carries only data. */
  destination?: DestinationStream;
  /** Default: pretty when standard error is a terminal, JSON otherwise. Ignored with `destination`. */
  format?: LogFormat;
}

/**
 * Every log line passes the process's redactor twice: the merge object before pino serialises it
 * (secret-named keys at any depth, errors with their cause; pino's own error serializer would
 * rebuild them and is replaced), and the finished line before it is
 * written (the message, bindings of child loggers, anything interpolated).
 */
export const REDACTION: Pick<PinoOptions, 'hooks' | 'serializers'> = {
  // Errors arrive already redacted as plain objects (type, message, code, stack, cause).
  serializers: { err: (value: unknown) => value },
  hooks: {
    logMethod(args, method) {
      const [first, ...rest] = args;
      if (first instanceof Error) {
        // pino takes an error's message as the line's message when none is given.
        const message = typeof rest[0] === 'string' ? rest : [first.message, ...rest];
        Reflect.apply(method, this, [{ err: redactor.value(first) }, ...message]);
      } else if (first !== null && typeof first === 'object') {
        Reflect.apply(method, this, [redactor.value(first), ...rest]);
      } else {
        Reflect.apply(method, this, args);
      }
    },
    streamWrite: (line) => redactor.text(line),
  },
};

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      ...REDACTION,
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
