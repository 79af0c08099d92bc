import { pino, type Logger, type DestinationStream, type LoggerOptions as PinoOptions } from 'pino';
import { redactor } from './redactor.js';

export type { Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  level: LogLevel;
  /** Where log lines go; the CLI passes standard error so stdout carries only data. */
  destination?: DestinationStream;
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
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
