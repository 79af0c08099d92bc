import { hmacKey } from '../../store/hmac-key.js';
import type { FailedLogin, LoginSuccesses } from '../../store/repositories/audit-logins.repository.js';

/**
 * Why a login failed. AppRole answers "invalid role or secret ID" for a wrong, expired or used-up
 * secret ID and for a role_id nobody knows; the two are told apart by whether the request's
 * (HMAC'd) role_id is the hash of an existing role's role_id.
 */
export type FailureReason =
  | 'invalid-secret-id'
  | 'role-not-found'
  | 'bound-cidr-mismatch'
  | 'missing-credentials'
  | 'invalid-password'
  | 'permission-denied'
  | 'unclassified';

export const REASON_TEXT: Readonly<Record<FailureReason, string>> = {
  'invalid-secret-id': 'wrong, expired or used-up secret ID',
  'role-not-found': 'role_id of no existing role (role deleted, recreated or mistyped)',
  'bound-cidr-mismatch': 'source address outside the bound CIDRs',
  'missing-credentials': 'role_id or secret_id missing from the request',
  'invalid-password': 'invalid username or password',
  'permission-denied': 'permission denied (no such auth mount, or a policy refuses the path)',
  unclassified: 'refused; the message is HMAC-hashed and matched no known error',
};

/** Error messages whose audit hash identifies the reason (hash → reason). */
export type ErrorHashes = ReadonlyMap<string, FailureReason>;
/** Hash of an existing AppRole role's role_id → where it is. */
export type RoleIdHashes = ReadonlyMap<string, { mount: string; role: string }>;

export interface FailureGroup {
  /** `auth/approle/` */
  mount: string;
  /** Role (AppRole, matched by role_id) or user (from the login path); undefined when unknown. */
  principal?: string;
  reason: FailureReason;
  count: number;
  first: string;
  last: string;
  remote_addresses: string[];
  /** When a login of the same mount and principal succeeded after the last failure. */
  recovered_at?: string;
}

const LOGIN_PATH = /^auth\/(.+?)\/login(?:\/(.+))?$/;

/** The messages a refused login answers with, in the exact form the audit device hashes. */
export function knownErrorMessages(remoteAddresses: readonly string[]): [string, FailureReason][] {
  const cidr = remoteAddresses.flatMap((address): [string, FailureReason][] =>
    ['role', 'secret ID'].flatMap((on): [string, FailureReason][] => [
      // OpenBao 2.x wraps a nil error with %w: the message really ends in ": %!w(<nil>)".
      [
        `source address "${address}" unauthorized by CIDR restrictions on the ${on}: %!w(<nil>)`,
        'bound-cidr-mismatch',
      ],
      [`source address "${address}" unauthorized by CIDR restrictions on the ${on}`, 'bound-cidr-mismatch'],
    ]),
  );
  return [
    ['invalid role or secret ID', 'invalid-secret-id'],
    ['missing secret_id', 'missing-credentials'],
    ['missing role_id', 'missing-credentials'],
    ['invalid username or password', 'invalid-password'],
    ['permission denied', 'permission-denied'],
    ...cidr,
  ];
}

interface Classified {
  mount: string;
  principal?: string;
  reason: FailureReason;
}

/**
 * The failure's reason, mount and principal. `errors` and `roles` are keyed by hmacKey (see
 * groupFailures), as the stored hmac_values are.
 */
function classifyFailure(failure: FailedLogin, errors: ErrorHashes, roles: RoleIdHashes): Classified {
  const match = LOGIN_PATH.exec(failure.path);
  const mount = match ? `auth/${match[1]}/` : (failure.mount_point ?? failure.path);
  // hmacKey again: stores written before keys hold the full strings.
  const hashes = failure.hmac_values
    .split(' ')
    .filter((h) => h !== '')
    .map(hmacKey);
  let role: { mount: string; role: string } | undefined;
  let reason: FailureReason | undefined;
  for (const h of hashes) {
    const known = roles.get(h);
    // A role_id of another mount's role says nothing about this mount.
    if (known && known.mount === mount) role ??= known;
    reason ??= errors.get(h);
  }
  if (!reason && failure.error && /permission denied/i.test(failure.error)) reason = 'permission-denied';
  reason ??= 'unclassified';
  if (reason === 'invalid-secret-id' && !role && failure.mount_type === 'approle') reason = 'role-not-found';
  const principal = role?.role ?? (match?.[2] ? decodeURIComponent(match[2]) : undefined);
  return { mount, reason, ...(principal !== undefined ? { principal } : {}) };
}

/** Failures by mount, principal and reason, most first; each marked recovered when a later login worked. */
export function groupFailures(
  failures: readonly FailedLogin[],
  errors: ErrorHashes,
  roles: RoleIdHashes,
  successes: readonly LoginSuccesses[] = [],
): FailureGroup[] {
  const groups = new Map<string, FailureGroup & { addresses: Set<string> }>();
  const errorKeys = byHmacKey(errors);
  const roleKeys = byHmacKey(roles);
  for (const failure of failures) {
    const c = classifyFailure(failure, errorKeys, roleKeys);
    const key = JSON.stringify([c.mount, c.principal ?? null, c.reason]);
    let group = groups.get(key);
    if (!group) {
      group = {
        mount: c.mount,
        ...(c.principal !== undefined ? { principal: c.principal } : {}),
        reason: c.reason,
        count: 0,
        first: failure.time,
        last: failure.time,
        remote_addresses: [],
        addresses: new Set(),
      };
      groups.set(key, group);
    }
    group.count++;
    if (failure.time < group.first) group.first = failure.time;
    if (failure.time > group.last) group.last = failure.time;
    if (failure.remote_address) group.addresses.add(failure.remote_address);
  }
  return [...groups.values()]
    .map(({ addresses, ...g }) => {
      const recovered = lastSuccess(successes, g.mount, g.principal);
      return {
        ...g,
        remote_addresses: [...addresses].sort(),
        ...(recovered && recovered > g.last ? { recovered_at: recovered } : {}),
      };
    })
    .sort((a, b) => b.count - a.count || a.mount.localeCompare(b.mount));
}

function lastSuccess(
  successes: readonly LoginSuccesses[],
  mount: string,
  principal: string | undefined,
): string | undefined {
  if (principal === undefined) return undefined;
  let last: string | undefined;
  for (const s of successes) {
    if (s.mount_point !== mount) continue;
    const who = s.metadata?.['role_name'] ?? s.metadata?.['username'] ?? s.metadata?.['role'];
    if (who !== principal) continue;
    if (!last || s.last > last) last = s.last;
  }
  return last;
}

/** A map keyed by full HMACs (as sys/audit-hash answers), keyed by hmacKey instead. */
function byHmacKey<V>(map: ReadonlyMap<string, V>): ReadonlyMap<string, V> {
  return new Map([...map].map(([hmac, value]) => [hmacKey(hmac), value]));
}
