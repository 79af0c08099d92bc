/**
 * How the store keeps the HMACs an audit device wrote (`hmac-sha256:<64 hex digits>`): by their
 * first HMAC_KEY_LENGTH hex digits, space-separated in `hmac_values`. Sixty-four bits tell one
 * value from another (a chance match needs ~4 billion distinct values in one store before it is
 * even one in four billion per lookup), and they are a fifth of the whole string: a busy day's
 * responses carry half a dozen HMACs each, and at full length they were the widest part of every
 * row. Stores written before this keep full strings; a full string contains its key, so
 * `instr(hmac_values, key)` finds both.
 */
export const HMAC_PREFIX = 'hmac-sha256:';
export const HMAC_KEY_LENGTH = 16;

/**
 * The stored key of an HMAC as an audit device or `sys/audit-hash` writes it. Idempotent: a key,
 * or anything without the prefix (a fixture's `hmac-sha256:x`), comes back cut to the same length.
 */
export function hmacKey(hmac: string): string {
  const digest = hmac.startsWith(HMAC_PREFIX) ? hmac.slice(HMAC_PREFIX.length) : hmac;
  return digest.slice(0, HMAC_KEY_LENGTH);
}
