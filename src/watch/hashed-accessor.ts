import pLimit from 'p-limit';
import { SealwatchError, errorMessage } from '../errors.js';
import type { VaultClient } from '../vault/client.js';

/** At most this many live accessors are hashed to find one: beyond it the search is refused, not slow. */
const MAX_ACCESSORS = 50_000;

export const HMAC_PREFIX = 'hmac-sha256:';

/** The error code when every accessor was hashed and none matched: no live token is behind it. */
export const HASHED_ACCESSOR_NOT_LIVE = 'hashed_accessor_not_live';

/**
 * The live token accessor an audit device logged as `hashed` (`hmac-sha256:…`, the default:
 * `hmac_accessor` on). The device's key never leaves the server, so each live accessor is hashed
 * through `sys/audit-hash/<device>` until one matches. A plain accessor is returned as it is.
 * Throws, naming the capability, when the accessors or the devices cannot be read, and when no
 * live token matches (it was revoked or expired meanwhile).
 */
export async function resolveHashedAccessor(
  vault: Pick<VaultClient, 'listAuditDevices' | 'auditHash' | 'tokenListAccessors'>,
  hashed: string,
  options: { concurrency?: number } = {},
): Promise<string> {
  if (!hashed.startsWith(HMAC_PREFIX)) return hashed;
  const read = async <T>(what: string, needs: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      throw new SealwatchError(
        'hashed_accessor_unresolved',
        `could not read ${what} to find the token behind ${hashed} (needs ${needs}): ${errorMessage(error)}`,
        { cause: error },
      );
    }
  };
  // Every device: the label names none, and each hashes with its own key.
  const devices = await read('the audit devices', 'sudo on sys/audit', () => vault.listAuditDevices());
  const accessors = await read('the live token accessors', 'list and sudo on auth/token/accessors', () =>
    vault.tokenListAccessors(),
  );
  if (accessors.length > MAX_ACCESSORS)
    throw new SealwatchError(
      'hashed_accessor_unresolved',
      `${accessors.length} live tokens: more than ${MAX_ACCESSORS} to hash to find ${hashed}; revoke it by hand (set hmac_accessor = false on the audit device to log accessors plainly)`,
    );
  const limit = pLimit(options.concurrency ?? 32);
  for (const device of devices) {
    const path = device.path.replace(/\/$/, '');
    let found: string | undefined;
    await read(`sys/audit-hash/${path}`, `update on sys/audit-hash/${path}`, () =>
      Promise.all(
        accessors.map((accessor) =>
          limit(async () => {
            if (found) return;
            if ((await vault.auditHash(device.path, accessor)) === hashed) found = accessor;
          }),
        ),
      ),
    );
    if (found) return found;
  }
  throw new SealwatchError(
    HASHED_ACCESSOR_NOT_LIVE,
    `no live token's accessor hashes to ${hashed} through ${devices.length} audit device(s): the token is already revoked or expired`,
  );
}
