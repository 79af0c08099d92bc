import { readFileSync } from 'node:fs';
import { ConfigError, describeSystemError } from '../errors.js';
import { registerSecret } from '../logging/redactor.js';
import type { CredentialRef } from './rotation.schema.js';

/** Reads a target's credential (TSIG key, admin URL) from the file or environment variable the config names. */
export function readCredential(
  ref: CredentialRef,
  what: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new ConfigError(`${what}: environment variable ${ref.env} is not set`);
    registerSecret(value);
    return value;
  }
  try {
    const value = readFileSync(ref.file, 'utf8').trim();
    if (!value) throw new ConfigError(`${what}: ${ref.file} is empty`);
    registerSecret(value);
    return value;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${what}: ${ref.file} cannot be read: ${describeSystemError(error)}`);
  }
}
