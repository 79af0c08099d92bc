import { redactText, registerSecret } from '../../logging/redactor.js';
import type { SecretData } from '../rotator.js';

/**
 * Text that came from a target (a command's stderr, a server's reply, a driver's error) is put in
 * a RotationError only after every secret value the rotator handled has been cut out of it: a
 * credential script may echo its input, a server may quote the command it refused.
 */
export function scrubSecrets(text: string, ...values: ReadonlyArray<string | undefined>): string {
  registerSecret(...values);
  return redactText(text);
}

/** The values of the fields that rotators treat as secret, from both versions of a secret. */
export function secretValuesOf(...versions: ReadonlyArray<SecretData>): string[] {
  return versions
    .flatMap((data) => [data['password'], data['private_key'], data['secret']])
    .filter((v): v is string => typeof v === 'string');
}

/** The last `max` characters of a command's output, trimmed, for an error message. */
export function tail(text: string, max = 500): string {
  const trimmed = text.trim();
  return trimmed.length <= max ? trimmed : '…' + trimmed.slice(-max);
}
