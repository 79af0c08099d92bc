import { ROTATOR_KINDS, type RotatorKind } from '../config/rotation.schema.js';
import type { Logger } from '../logging/logger.js';

export { ROTATOR_KINDS, type RotatorKind };

/**
 * A rotator replaces one kind of tenant secret in the system that uses it. The engine
 * (rotation.engine.ts) owns Vault: it stages the new value as a KV v2 version marked pending, makes
 * it current after `verify`, and journals every phase; a rotator only generates values and talks
 * to its target. Every method must be safe to call again after a crash (idempotent).
 */
/** Whether a kind name (as the store keeps it) is one this sealwatch has a rotator for. */
export function isRotatorKind(kind: string): kind is RotatorKind {
  return ROTATOR_KINDS.some((known) => known === kind);
}

/** The target of secrets that only Vault holds: no per-target limit beyond the global one. */
export const VAULT_ONLY_TARGET = 'vault-only';

/** The data of one KV v2 version. Rotators keep every field they do not rotate. */
export type SecretData = Record<string, string>;

export interface SecretRef {
  tenant: string;
  kind: RotatorKind;
  /** The secret's KV path in CLI form, e.g. `secret/tenants/acme/smtp`. */
  path: string;
}

export interface RotationInput {
  ref: SecretRef;
  /** The value in use (current KV version). */
  current: SecretData;
  /** The new value (from `generate`, read back from the staged KV version on resume). */
  next: SecretData;
  logger: Logger;
  signal: AbortSignal;
}

export interface Rotator {
  readonly kind: RotatorKind;
  /**
   * The system the secret lives in (`ssh:127.0.0.1:2222`, `postgres:db1`, `vault-only`): the engine
   * limits concurrency per target as well as globally (`VAULT_ONLY_TARGET` only globally).
   */
  targetOf(ref: SecretRef, current: SecretData): string;
  /**
   * A new value from the current one (fields not rotated are kept). Usually pure apart from
   * randomness; where the target chooses the value (a Vault database static role) it may ask the
   * target. The engine calls it once per secret and then keeps the value in Vault, but a crash
   * before the value is staged calls it again, so that must be safe.
   */
  generate(ref: SecretRef, current: SecretData): Promise<SecretData>;
  /** The target learns the new value; the old one keeps working until `finalize`. */
  apply(input: RotationInput): Promise<void>;
  /** Proves the new value works by using it; throws a RotationError when it does not. */
  verify(input: RotationInput): Promise<void>;
  /** The new value is current in Vault: remove the old credential from the target (old key, old record). */
  finalize(input: RotationInput): Promise<void>;
  /** Undo `apply`: the target uses `current` again and forgets `next`. */
  rollback(input: RotationInput): Promise<void>;
  /**
   * After `finalize`: proves the old value is refused where the target can tell (SSH login with the
   * old key, SMTP AUTH or a database login with the old password). Undefined where it cannot.
   */
  verifyOldRefused?(input: RotationInput): Promise<void>;
  /**
   * True when this rotation revokes the secret instead of replacing it (API keys without a
   * replacement): retiring it then deletes every version and the metadata.
   */
  removesSecret?(next: SecretData): boolean;
}
