import pLimit from 'p-limit';
import { SealwatchError, UsageError } from '../../errors.js';
import type { VaultClient } from '../../vault/client.js';
import { BadRequestError, NotFoundError } from '../../vault/errors.js';

/** An AppRole role named on the command line as `MOUNT/ROLE` (`approle/mailer`, `auth/approle/mailer`). */
export interface RoleRef {
  /** `auth/approle/` */
  mount: string;
  role: string;
}

export function parseRoleRef(value: string): RoleRef {
  const parts = value
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((p) => p !== '');
  if (parts[0] === 'auth') parts.shift();
  if (parts.length < 2)
    throw new UsageError(`--role ${value}: give MOUNT/ROLE, e.g. approle/mailer (the role on auth/approle/)`);
  const role = parts.pop()!;
  return { mount: `auth/${parts.join('/')}/`, role };
}

export const rolePath = (ref: RoleRef) => `${ref.mount}role/${ref.role}`;
export const roleName = (ref: RoleRef) => `${ref.mount.replace(/^auth\//, '')}${ref.role}`;

/** Role names on an AppRole mount (at most `max`). */
export async function listRoles(vault: VaultClient, mount: string, max = 200): Promise<string[]> {
  return (await vault.list(`${mount}role`)).slice(0, max);
}

/** The role's settings, or a clear error naming the roles that do exist. */
export async function requireRole(vault: VaultClient, ref: RoleRef): Promise<Record<string, unknown>> {
  const role = await vault.readOptional(rolePath(ref)).catch((error: unknown) => {
    // A mount that does not exist answers 400/403 on its paths, not 404.
    if (error instanceof BadRequestError) return undefined;
    throw error;
  });
  if (role) return role.data;
  // Only shapes the message: roles that cannot be listed are not named, and the mount may not be AppRole.
  const existing = await listRoles(vault, ref.mount).catch(() => undefined);
  throw new SealwatchError(
    'role_not_found',
    `role ${ref.role} does not exist on ${ref.mount} (${rolePath(ref)} is empty)` +
      (existing === undefined
        ? `; ${ref.mount} may not be an AppRole mount`
        : existing.length > 0
          ? `; roles there: ${existing.join(', ')}`
          : '; that mount has no roles') +
      ': check --role MOUNT/ROLE',
    { details: { mount: ref.mount, role: ref.role } },
  );
}

export async function readRoleId(vault: VaultClient, ref: RoleRef): Promise<string> {
  return (await vault.read<{ role_id: string }>(`${rolePath(ref)}/role-id`)).data.role_id;
}

/**
 * Hash (as `device` writes it) of the role_id of every role on these AppRole mounts: a failed
 * login's request carries the role_id only as this HMAC.
 */
export async function roleIdHashes(
  vault: VaultClient,
  device: string,
  mounts: readonly string[],
  options: { maxRoles?: number; concurrency?: number } = {},
): Promise<Map<string, RoleRef>> {
  const limit = pLimit(options.concurrency ?? 8);
  const refs = (
    await Promise.all(
      mounts.map(async (mount) =>
        (await listRoles(vault, mount, options.maxRoles)).map((role) => ({
          mount,
          role,
        })),
      ),
    )
  ).flat();
  const hashed = await Promise.all(
    refs.map((ref) =>
      limit(async () => {
        try {
          return [await vault.auditHash(device, await readRoleId(vault, ref)), ref] as const;
        } catch (error) {
          if (error instanceof NotFoundError) return undefined;
          throw error;
        }
      }),
    ),
  );
  return new Map(hashed.filter((h) => h !== undefined));
}

export interface IssuedSecretId {
  secret_id: string;
  secret_id_accessor: string;
}

export async function issueSecretId(
  vault: VaultClient,
  ref: RoleRef,
  metadata?: Record<string, string>,
): Promise<IssuedSecretId> {
  const res = await vault.write<IssuedSecretId>(
    `${rolePath(ref)}/secret-id`,
    metadata ? { metadata: JSON.stringify(metadata) } : {},
  );
  return res!.data;
}

export async function destroySecretId(vault: VaultClient, ref: RoleRef, accessor: string): Promise<void> {
  await vault.write(`${rolePath(ref)}/secret-id-accessor/destroy`, { secret_id_accessor: accessor });
}

/** A real AppRole login, without sealwatch's own token; returns the new token and its policies. */
export async function appRoleLogin(
  vault: VaultClient,
  ref: RoleRef,
  roleId: string,
  secretId: string,
): Promise<{ token: string; policies: string[] }> {
  const res = await vault.write(
    `${ref.mount}login`,
    { role_id: roleId, secret_id: secretId },
    { token: null },
  );
  const auth = res?.auth;
  if (!auth) throw new SealwatchError('login_failed', `${ref.mount}login issued no token`);
  return { token: auth.client_token, policies: auth.token_policies ?? auth.policies ?? [] };
}
