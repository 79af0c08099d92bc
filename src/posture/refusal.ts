import { VaultError } from '../vault/errors.js';
import { couldNotRead, type PostureCheck, type PostureFinding } from './check.js';

/**
 * The finding of a check whose read the server refused or did not answer (permission denied,
 * sealed, timeout): what it could not read and the capability and path it needs. Anything that is
 * not a Vault error is a defect of the check and is thrown (the service reports it as
 * could-not-check).
 */
export function refusal(
  check: Pick<PostureCheck, 'id' | 'area'>,
  what: string,
  need: { capability: string; path: string },
  error: unknown,
): PostureFinding {
  if (error instanceof VaultError) return couldNotRead(check, what, need, error.message);
  throw error;
}

/** `768h`, `30m`, `45s`, `never`: a TTL in seconds as people read it in a report. */
export function humanTtl(seconds: number): string {
  if (seconds <= 0) return 'never';
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
