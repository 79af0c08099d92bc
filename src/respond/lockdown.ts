import pLimit from 'p-limit';
import { SealwatchError } from '../errors.js';
import type { VaultClient } from '../vault/client.js';
import { BadRequestError, NotFoundError } from '../vault/errors.js';
import type { TokenInfo } from '../vault/types.js';
import { authLockTargets, type AuthExport, type AuthLockTarget } from './auth-export.js';

/**
 * The lockdown half of containment, against an unsealed Vault: revoke every token and lease but the
 * responder's, destroy every AppRole secret ID, and lock the auth methods by binding their roles
 * and users to an unroutable CIDR, which keeps every role (unlike `auth disable`, which deletes
 * them). Each action is safe to repeat.
 */
export type LockdownVault = Pick<
  VaultClient,
  | 'tokenLookupSelf'
  | 'tokenListAccessors'
  | 'tokenLookupAccessor'
  | 'tokenRevokeAccessor'
  | 'leaseRevokePrefix'
  | 'leaseList'
  | 'listAuthMounts'
  | 'disableAuth'
  | 'list'
  | 'write'
>;

export class ContainmentError extends SealwatchError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { details, cause });
  }
}

export interface Responder {
  accessor: string;
  path: string;
  displayName: string;
  /**
   * The auth mount the token lives in (`auth/token/` for every token-store token: the initial root
   * token, generate-root's, create and create-orphan; `auth/approle/` for an AppRole login). Its
   * leases are never revoked by prefix: on OpenBao 2.7.2 that revokes a TTL-less root-policy token
   * made through auth/token/create as well as a leased one, so where the token lives decides, not
   * whether it has a lease. The mount's other tokens are revoked by accessor.
   */
  mount: string;
}

/**
 * The responder's own token. It must be an orphan: revoking any token revokes its children, and
 * which token is a non-orphan's parent cannot be read, so lockdown could not keep it alive.
 */
export async function describeResponder(
  vault: Pick<VaultClient, 'tokenLookupSelf' | 'listAuthMounts'>,
): Promise<Responder> {
  const [self, mounts]: [TokenInfo, Record<string, unknown>] = await Promise.all([
    vault.tokenLookupSelf(),
    vault.listAuthMounts(),
  ]);
  if (!self.orphan)
    throw new ContainmentError(
      'responder_token_not_orphan',
      `the responder's token (${self.display_name}, ${self.path}) has a parent token: revoking every other token ` +
        'would revoke it too. Run containment with a root token or an orphan token (bao token create -orphan, with sudo on auth/token/accessors and sys/leases/revoke-prefix, and list on sys/leases/lookup named in its policy: path "*" does not grant it)',
      { path: self.path },
    );
  // The longest mount that holds the path: mounts may nest (auth/team/ and auth/team/approle/).
  const mount = Object.keys(mounts)
    .map((m) => `auth/${trim(m)}/`)
    .filter((prefix) => self.path.startsWith(prefix))
    .sort((a, b) => b.length - a.length)[0];
  if (!mount)
    throw new ContainmentError(
      'responder_mount_unknown',
      `the responder's token (${self.display_name}) was made at ${self.path || '(no path)'}, which is under no auth mount this token can list: ` +
        'lockdown cannot tell which prefix sweep would revoke it. Run containment with a token made by the token store (bao token create -orphan)',
      { path: self.path },
    );
  return { accessor: self.accessor, path: self.path, displayName: self.display_name, mount };
}

/** How lockdown keeps the responder's token alive, in the plan's and the report's words. */
export const keptAlive = (responder: Responder) =>
  `keep the responder's token (${responder.displayName}, made at ${responder.path}) alive: ` +
  `${responder.mount} is not swept by prefix; its other tokens are revoked by accessor, the responder's own skipped`;

export interface LockdownCounts {
  tokens: number;
  leases: Record<string, number>;
  secretIds: number;
  authMounts: number;
  lockTargets: number;
}

/** Counts for the plan (what lockdown would revoke, destroy and lock); reads only. */
export async function countLockdown(
  vault: LockdownVault,
  exported: AuthExport | undefined,
  options: { concurrency?: number } = {},
): Promise<LockdownCounts> {
  const limit = pLimit(options.concurrency ?? 16);
  const [accessors, mounts, top] = await Promise.all([
    vault.tokenListAccessors(),
    vault.listAuthMounts(),
    vault.leaseList(''),
  ]);
  const leases: Record<string, number> = {};
  await Promise.all(top.map(async (prefix) => (leases[prefix] = await countLeases(vault, prefix, limit))));
  const approle = Object.entries(mounts)
    .filter(([, m]) => m.type === 'approle')
    .map(([p]) => p);
  let secretIds = 0;
  for (const mount of approle) {
    const roles = await vault.list(`auth/${trim(mount)}/role`);
    const counts = await Promise.all(
      roles.map((r) => limit(() => vault.list(`auth/${trim(mount)}/role/${r}/secret-id`))),
    );
    secretIds += counts.reduce((n, list) => n + list.length, 0);
  }
  return {
    tokens: Math.max(0, accessors.length - 1),
    leases,
    secretIds,
    authMounts: Object.keys(mounts).length,
    lockTargets: exported ? authLockTargets(exported).targets.length : 0,
  };
}

async function countLeases(
  vault: LockdownVault,
  prefix: string,
  limit: ReturnType<typeof pLimit>,
): Promise<number> {
  const keys = await limit(() => vault.leaseList(prefix));
  const nested = await Promise.all(
    keys.filter((k) => k.endsWith('/')).map((k) => countLeases(vault, `${prefix}${k}`, limit)),
  );
  return keys.filter((k) => !k.endsWith('/')).length + nested.reduce((a, b) => a + b, 0);
}

export interface LockdownOptions {
  exported: AuthExport;
  responder: Responder;
  /** Auth mounts the operator asked to disable (after the export; recovery re-enables them). */
  disableMounts?: readonly string[];
  concurrency?: number;
  progress?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * The tripwire: told every accessor step 3 set out to revoke (all tokens but the responder's),
   * once it is done, and also when it stops part-way (a crash or a refusal must not leave revoked
   * tokens unrecorded). Any later use of one is the `revoked-token-use` detection.
   */
  recordRevoked?: (accessors: readonly string[]) => Promise<void>;
}

export interface LockdownReport {
  /** Prefixes revoked with sys/leases/revoke-prefix (auth mounts and secret engines). */
  revokedPrefixes: string[];
  /** Auth mounts not swept by prefix because the responder's own token lives there (revoked by accessor instead). */
  perTokenMounts: string[];
  tokensRevokedByAccessor: number;
  /** Accessors gone before their turn (revoked with a parent, or expired). */
  tokensAlreadyGone: number;
  secretIdsDestroyed: number;
  locked: { mount: string; kind: AuthLockTarget['kind']; name: string }[];
  unlockable: { mount: string; type: string }[];
  disabledMounts: string[];
}

export async function lockdown(vault: LockdownVault, options: LockdownOptions): Promise<LockdownReport> {
  const progress = options.progress ?? (() => undefined);
  const limit = pLimit(options.concurrency ?? 64);
  const report: LockdownReport = {
    revokedPrefixes: [],
    perTokenMounts: [],
    tokensRevokedByAccessor: 0,
    tokensAlreadyGone: 0,
    secretIdsDestroyed: 0,
    locked: [],
    unlockable: [],
    disabledMounts: [],
  };

  // 1. Lock first, so that no new login succeeds while the old tokens are being revoked.
  const { targets, unlockable } = authLockTargets(options.exported);
  await Promise.all(
    targets.map((t) =>
      limit(async () => {
        try {
          await vault.write(t.path, t.lock);
          report.locked.push({ mount: t.mount, kind: t.kind, name: t.name });
        } catch (error) {
          // Removed since the export (or its mount is being disabled): nothing left to lock.
          if (!(error instanceof NotFoundError)) throw error;
        }
      }),
    ),
  );
  report.locked.sort((a, b) => `${a.mount}${a.name}`.localeCompare(`${b.mount}${b.name}`));
  report.unlockable = unlockable.map((m) => ({ mount: m.path, type: m.type }));
  progress(`locked ${report.locked.length} roles and users to ${'192.0.2.1/32'}`);

  // 2. Secret IDs: a stolen one would log in again as soon as the lock is lifted.
  const mounts = await vault.listAuthMounts();
  for (const [mount, info] of Object.entries(mounts)) {
    if (info.type !== 'approle') continue;
    const base = `auth/${trim(mount)}`;
    for (const role of await vault.list(`${base}/role`)) {
      const accessors = await vault.list(`${base}/role/${role}/secret-id`);
      await Promise.all(
        accessors.map((accessor) =>
          limit(async () => {
            await vault.write(`${base}/role/${role}/secret-id-accessor/destroy`, {
              secret_id_accessor: accessor,
            });
            report.secretIdsDestroyed++;
          }),
        ),
      );
    }
  }
  progress(`destroyed ${report.secretIdsDestroyed} AppRole secret IDs`);
  options.signal?.throwIfAborted();

  // 3. Every token but the responder's, by accessor and in parallel. Measured on OpenBao 2.7 (raft):
  // sys/leases/revoke-prefix revokes one lease after another (about 26 tokens/s, with sync=false too),
  // while parallel revoke-accessor calls reach about 250 tokens/s, so the prefix is the sweep, not
  // the main path. Accessors also cover tokens without a lease (root, TTL-less) and orphans.
  const accessors = (await vault.tokenListAccessors()).filter((a) => a !== options.responder.accessor);
  const failures: Error[] = [];
  try {
    await Promise.all(
      accessors.map((accessor) =>
        limit(async () => {
          if (options.signal?.aborted) return;
          try {
            await vault.tokenRevokeAccessor(accessor);
            report.tokensRevokedByAccessor++;
            if (report.tokensRevokedByAccessor % 1000 === 0)
              progress(`revoked ${report.tokensRevokedByAccessor}/${accessors.length} tokens`);
          } catch (error) {
            // Revoked meanwhile with its parent (tree revocation), or expired.
            if (isGoneAccessor(error)) report.tokensAlreadyGone++;
            else failures.push(error as Error);
          }
        }),
      ),
    );
  } finally {
    await options.recordRevoked?.(accessors);
  }
  progress(`recorded ${accessors.length} revoked accessors for the tripwire`);
  options.signal?.throwIfAborted();
  if (failures.length > 0)
    throw new ContainmentError(
      'token_revocation_failed',
      `${failures.length} of ${accessors.length} tokens could not be revoked (first: ${failures[0]!.message}); run containment again`,
      { failed: failures.length },
      failures[0],
    );
  progress(`revoked ${report.tokensRevokedByAccessor} tokens by accessor`);

  // 4. Sweep every lease left by prefix: each auth mount but the one the responder's token lives
  // in (the prefix would revoke it: see Responder.mount), and each secret engine with leases
  // (database credentials, …). That mount is enumerated again instead: a token made there since
  // step 3's list is revoked by accessor.
  for (const mount of Object.keys(mounts).sort()) {
    const prefix = `auth/${trim(mount)}/`;
    if (prefix === options.responder.mount) {
      report.perTokenMounts.push(prefix);
      await revokeMountTokensByAccessor(vault, prefix, options.responder.accessor, report, limit);
      continue;
    }
    await vault.leaseRevokePrefix(prefix);
    report.revokedPrefixes.push(prefix);
  }
  for (const prefix of await vault.leaseList('')) {
    if (prefix === 'auth/' || !prefix.endsWith('/')) continue;
    await vault.leaseRevokePrefix(prefix);
    report.revokedPrefixes.push(prefix);
  }
  progress(`revoked leases under ${report.revokedPrefixes.length} prefixes`);

  // 5. Mounts the operator asked to disable: their configuration is in the export.
  for (const mount of options.disableMounts ?? []) {
    const path = `${trim(mount)}/`;
    if (path === 'token/')
      throw new ContainmentError('cannot_disable_token', 'the token auth method cannot be disabled');
    if (!options.exported.mounts.some((m) => m.path === path))
      throw new ContainmentError(
        'disable_not_exported',
        `auth mount ${path} is not in the export: not disabling it`,
        { mount: path },
      );
    if (mounts[path]) await vault.disableAuth(path);
    report.disabledMounts.push(path);
  }
  return report;
}

/**
 * Every token of `prefix`'s mount but the responder's, looked up one by one (LIST
 * auth/token/accessors names every token whatever its mount; its lookup tells where it was made).
 */
async function revokeMountTokensByAccessor(
  vault: LockdownVault,
  prefix: string,
  own: string,
  report: LockdownReport,
  limit: ReturnType<typeof pLimit>,
): Promise<void> {
  const accessors = (await vault.tokenListAccessors()).filter((a) => a !== own);
  await Promise.all(
    accessors.map((accessor) =>
      limit(async () => {
        try {
          const info = await vault.tokenLookupAccessor(accessor);
          if (!info.path.startsWith(prefix)) return;
          await vault.tokenRevokeAccessor(accessor);
          report.tokensRevokedByAccessor++;
        } catch (error) {
          if (!isGoneAccessor(error)) throw error;
          // Expired or revoked with its parent between the list and the lookup: already gone.
          report.tokensAlreadyGone++;
        }
      }),
    ),
  );
}

const isGoneAccessor = (error: unknown) =>
  error instanceof BadRequestError &&
  /invalid accessor|not found|invalid token/i.test(error.serverErrors.join(' '));

const trim = (path: string) => path.replace(/^\/+|\/+$/g, '');
