import { redactText, redactValue } from './logging/redactor.js';

/**
 * The one error base of sealwatch. Every failure a user can see is a SealwatchError with a stable
 * `code` (scripts match on it), whether retrying can help, the underlying cause and details that are
 * safe to print (never a token or a secret value).
 */
export interface SealwatchErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

export class SealwatchError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: SealwatchErrorOptions = {}) {
    // Messages often quote what a target or a server said, which may echo a secret: redacted at birth,
    // and again at every boundary (a secret registered later is cut there).
    super(redactText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = Object.freeze(redactValue({ ...(options.details ?? {}) }));
  }
}

/** Bad configuration: a file, a key or a flag value that cannot work. Exit code 2. */
export class ConfigError extends SealwatchError {
  constructor(message: string, options: SealwatchErrorOptions = {}) {
    super('config_invalid', message, options);
  }
}

/** The command line itself is wrong (a missing or conflicting option). Exit code 2. */
export class UsageError extends SealwatchError {
  constructor(message: string, options: SealwatchErrorOptions = {}) {
    super('usage', message, options);
  }
}

/** A program sealwatch needs is not installed (bao, initdb, …). */
export class MissingDependencyError extends SealwatchError {
  constructor(message: string, options: SealwatchErrorOptions = {}) {
    super('missing_dependency', message, options);
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The system error code of a failed file, process or socket call (ENOENT, EACCES, EPERM, …), if it is one. */
export function systemErrorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** A failed system call in a few words: its code (ENOENT) when it has one, else its message. */
export function describeSystemError(error: unknown): string {
  return systemErrorCode(error) ?? errorMessage(error);
}
