import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import pLimit from 'p-limit';
import { SealwatchError } from '../errors.js';
import type { VaultClient } from '../vault/client.js';
import type { MountInfo } from '../vault/types.js';

/**
 * The configuration of every auth method and every ACL policy, exported before containment touches
 * anything, so that what lockdown changes (bound CIDRs) or removes (a disabled mount: disabling an
 * auth mount deletes every role in it) can be put back exactly. Passwords and other write-only
 * fields cannot be read from Vault and are therefore not in the export; `notes` says so.
 */
export const AUTH_EXPORT_FORMAT = 'sealwatch-auth-export/1';

/** TEST-NET-1 (RFC 5737): never routed, so a login or token bound to it works from nowhere. */
export const BLACKHOLE_CIDR = '192.0.2.1/32';

export interface ExportedAuthMount {
  /** Mount path with a trailing slash, as sys/auth lists it: `approle/`. */
  path: string;
  type: string;
  description: string;
  config: Record<string, unknown>;
  options: Record<string, string> | null;
  local: boolean;
  seal_wrap: boolean;
  /** What of the backend could be read: everything sealwatch knows for this type, or only the mount. */
  coverage: 'full' | 'mount-only';
  /** jwt/oidc: auth/<m>/config (secrets such as oidc_client_secret are write-only, not here). */
  backendConfig?: Record<string, unknown>;
  /** approle roles, token roles, jwt/oidc roles: every field the role read answers. */
  roles: Record<string, Record<string, unknown>>;
  /** approle: role name → role_id (restored as is, so applications keep their role id). */
  roleIds: Record<string, string>;
  /** userpass users: policies, TTLs, bound CIDRs; never the password (Vault does not return it). */
  users: Record<string, Record<string, unknown>>;
}

export interface AuthExport {
  format: typeof AUTH_EXPORT_FORMAT;
  exportedAt: string;
  mounts: ExportedAuthMount[];
  /** ACL policy name → HCL text. */
  policies: Record<string, string>;
  notes: string[];
}

export class AuthExportError extends SealwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('auth_export', message, options);
  }
}

type ExportVault = Pick<
  VaultClient,
  'listAuthMounts' | 'list' | 'read' | 'readOptional' | 'listPolicies' | 'readPolicy'
>;

const ROLE_TYPES = new Set(['approle', 'token', 'jwt', 'oidc', 'userpass']);

/** Reads the whole auth configuration (the token needs read/list on sys/auth, auth/* and sys/policies). */
export async function exportAuthConfig(
  vault: ExportVault,
  options: { concurrency?: number } = {},
): Promise<AuthExport> {
  const limit = pLimit(options.concurrency ?? 16);
  const mounts = await vault.listAuthMounts();
  const exported = await Promise.all(
    Object.entries(mounts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([path, info]) => exportMount(vault, path, info, limit)),
  );
  const policyNames = (await vault.listPolicies()).filter((name) => name !== 'root').sort();
  const policies: Record<string, string> = {};
  await Promise.all(
    policyNames.map((name) =>
      limit(async () => {
        const text = await vault.readPolicy(name);
        if (text !== undefined) policies[name] = text;
      }),
    ),
  );
  const notes = [
    'userpass passwords cannot be read from Vault: they are not in this export; a re-created user needs a new password',
  ];
  if (exported.some((m) => m.type === 'jwt' || m.type === 'oidc'))
    notes.push(
      'jwt/oidc: oidc_client_secret and other write-only settings are not returned by Vault and are not exported',
    );
  const partial = exported.filter((m) => m.coverage === 'mount-only').map((m) => `${m.path} (${m.type})`);
  if (partial.length > 0)
    notes.push(
      `only the mount settings of ${partial.join(', ')} were exported: sealwatch does not know their role layout`,
    );
  return {
    format: AUTH_EXPORT_FORMAT,
    exportedAt: new Date().toISOString(),
    mounts: exported,
    policies: sortKeys(policies),
    notes,
  };
}

/**
 * One auth mount's configuration (mount settings and every role or user), read as the full export
 * reads it: what `posture fix` writes to a file before it disables an unused mount.
 */
export async function exportAuthMount(
  vault: ExportVault,
  path: string,
  info: MountInfo,
  options: { concurrency?: number } = {},
): Promise<ExportedAuthMount> {
  return exportMount(vault, path, info, pLimit(options.concurrency ?? 16));
}

async function exportMount(
  vault: ExportVault,
  path: string,
  info: MountInfo,
  limit: ReturnType<typeof pLimit>,
): Promise<ExportedAuthMount> {
  const mount: ExportedAuthMount = {
    path,
    type: info.type,
    description: info.description ?? '',
    config: { ...(info.config ?? {}) },
    options: info.options ?? null,
    local: info.local ?? false,
    seal_wrap: info.seal_wrap ?? false,
    coverage: ROLE_TYPES.has(info.type) ? 'full' : 'mount-only',
    roles: {},
    roleIds: {},
    users: {},
  };
  const base = `auth/${trim(path)}`;
  const readAll = async (listPath: string, itemPath: (name: string) => string) => {
    const names = (await vault.list(listPath)).filter((n) => !n.endsWith('/')).sort();
    const out: Record<string, Record<string, unknown>> = {};
    await Promise.all(
      names.map((name) =>
        limit(async () => {
          const res = await vault.readOptional(itemPath(name));
          if (res) out[name] = res.data;
        }),
      ),
    );
    return sortKeys(out);
  };
  switch (info.type) {
    case 'approle': {
      mount.roles = await readAll(`${base}/role`, (r) => `${base}/role/${r}`);
      await Promise.all(
        Object.keys(mount.roles).map((role) =>
          limit(async () => {
            const res = await vault.readOptional<{ role_id: string }>(`${base}/role/${role}/role-id`);
            if (res) mount.roleIds[role] = res.data.role_id;
          }),
        ),
      );
      mount.roleIds = sortKeys(mount.roleIds);
      break;
    }
    case 'userpass':
      mount.users = await readAll(`${base}/users`, (u) => `${base}/users/${u}`);
      break;
    case 'token':
      mount.roles = await readAll(`${base}/roles`, (r) => `${base}/roles/${r}`);
      break;
    case 'jwt':
    case 'oidc': {
      const config = await vault.readOptional(`${base}/config`);
      if (config) mount.backendConfig = config.data;
      mount.roles = await readAll(`${base}/role`, (r) => `${base}/role/${r}`);
      break;
    }
  }
  return mount;
}

// ---- locking -----------------------------------------------------------------------------------

/** One role or user whose logins and tokens containment binds to the blackhole CIDR. */
export interface AuthLockTarget {
  mount: string;
  kind: 'approle-role' | 'userpass-user' | 'token-role' | 'jwt-role';
  name: string;
  /** The API path the lock (and the restore) writes to. */
  path: string;
  /** Field → blackhole value written by the lock. */
  lock: Record<string, unknown>;
  /** Field → the value in the export, written back by the restore. */
  original: Record<string, unknown>;
}

/**
 * What lockdown can lock without disabling a mount: every approle role (secret_id_bound_cidrs and
 * token_bound_cidrs: logins are refused, new tokens unusable), every userpass user and jwt/oidc role
 * (token_bound_cidrs: OpenBao refuses the login from any other address) and every token role. Types
 * sealwatch does not know are returned as `unlockable` for the operator to decide (disable them).
 */
export function authLockTargets(exported: AuthExport): {
  targets: AuthLockTarget[];
  unlockable: ExportedAuthMount[];
} {
  const targets: AuthLockTarget[] = [];
  const unlockable: ExportedAuthMount[] = [];
  for (const mount of exported.mounts) {
    const base = `auth/${trim(mount.path)}`;
    const add = (
      kind: AuthLockTarget['kind'],
      name: string,
      path: string,
      fields: string[],
      from: Record<string, unknown>,
    ) =>
      targets.push({
        mount: mount.path,
        kind,
        name,
        path,
        lock: Object.fromEntries(fields.map((f) => [f, [BLACKHOLE_CIDR]])),
        original: Object.fromEntries(fields.map((f) => [f, from[f] ?? []])),
      });
    switch (mount.type) {
      case 'approle':
        for (const [role, data] of Object.entries(mount.roles))
          add(
            'approle-role',
            role,
            `${base}/role/${role}`,
            ['secret_id_bound_cidrs', 'token_bound_cidrs'],
            data,
          );
        break;
      case 'userpass':
        for (const [user, data] of Object.entries(mount.users))
          add('userpass-user', user, `${base}/users/${user}`, ['token_bound_cidrs'], data);
        break;
      case 'token':
        for (const [role, data] of Object.entries(mount.roles))
          add('token-role', role, `${base}/roles/${role}`, ['token_bound_cidrs'], data);
        break;
      case 'jwt':
      case 'oidc':
        for (const [role, data] of Object.entries(mount.roles))
          add('jwt-role', role, `${base}/role/${role}`, ['token_bound_cidrs'], data);
        break;
      default:
        unlockable.push(mount);
    }
  }
  return { targets, unlockable };
}

/** True when a value carries the lockdown CIDR (OpenBao stores `192.0.2.1/32` as `192.0.2.1`). */
export function isLockValue(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.some((v) => typeof v === 'string' && v.replace(/\/32$/, '') === BLACKHOLE_CIDR.replace(/\/32$/, ''))
  );
}

/** Roles and users in an export that already carry the lockdown CIDR: such an export cannot restore anything. */
export function lockedEntries(exported: AuthExport): string[] {
  const found: string[] = [];
  for (const mount of exported.mounts)
    for (const [name, data] of [...Object.entries(mount.roles), ...Object.entries(mount.users)])
      if (Object.values(data).some(isLockValue)) found.push(`${mount.path}${name}`);
  return found;
}

// ---- import ------------------------------------------------------------------------------------

export interface ImportReport {
  mountsEnabled: string[];
  rolesWritten: number;
  usersWritten: number;
  roleIdsRestored: number;
  /** userpass users that did not exist and could not be re-created: their password is unknown. */
  usersNeedingPassword: string[];
  policiesWritten: number;
}

type ImportVault = Pick<VaultClient, 'listAuthMounts' | 'write' | 'readOptional' | 'writePolicy'>;

/** Fields a read answers that a write refuses or ignores. */
const READ_ONLY_FIELDS: Record<string, string[]> = {
  approle: [],
  token: ['name'],
  userpass: [],
  jwt: [],
  oidc: [],
};
/** Fields only a create may set (approle: local_secret_ids). */
const CREATE_ONLY_FIELDS: Record<string, string[]> = { approle: ['local_secret_ids'] };
/** Deprecated aliases that a read still answers beside their token_* replacement. */
const DEPRECATED_ALIASES: Record<string, string> = {
  period: 'token_period',
  explicit_max_ttl: 'token_explicit_max_ttl',
  policies: 'token_policies',
  bound_cidrs: 'token_bound_cidrs',
  ttl: 'token_ttl',
  max_ttl: 'token_max_ttl',
  num_uses: 'token_num_uses',
};

/**
 * Writes an export back: re-enables a mount that is missing (a disabled one), then writes every role,
 * user and role id exactly as exported (a write updates the fields it names and keeps the rest), and,
 * with `policies: true`, the ACL policies. `mounts` limits it to some mount paths.
 */
export async function importAuthConfig(
  vault: ImportVault,
  exported: AuthExport,
  options: { mounts?: readonly string[]; policies?: boolean; concurrency?: number } = {},
): Promise<ImportReport> {
  if (exported.format !== AUTH_EXPORT_FORMAT)
    throw new AuthExportError(`not a sealwatch auth export (format ${String(exported.format)})`);
  const limit = pLimit(options.concurrency ?? 16);
  const report: ImportReport = {
    mountsEnabled: [],
    rolesWritten: 0,
    usersWritten: 0,
    roleIdsRestored: 0,
    usersNeedingPassword: [],
    policiesWritten: 0,
  };
  if (options.policies)
    await Promise.all(
      Object.entries(exported.policies).map(([name, text]) =>
        limit(async () => {
          await vault.writePolicy(name, text);
          report.policiesWritten++;
        }),
      ),
    );
  const live = await vault.listAuthMounts();
  const wanted = options.mounts ? new Set(options.mounts.map((m) => `${trim(m)}/`)) : undefined;
  for (const mount of exported.mounts) {
    if (wanted && !wanted.has(mount.path)) continue;
    const base = `auth/${trim(mount.path)}`;
    const existed = live[mount.path] !== undefined;
    if (!existed) {
      // sys/auth/<path> directly: enableAuth does not take local/seal_wrap/options, which a re-enable must keep.
      await vault.write(`sys/auth/${trim(mount.path)}`, {
        type: mount.type,
        description: mount.description,
        config: mountTuneConfig(mount.config),
        ...(mount.options ? { options: mount.options } : {}),
        local: mount.local,
        seal_wrap: mount.seal_wrap,
      });
      report.mountsEnabled.push(mount.path);
    }
    if (mount.backendConfig)
      await vault.write(`${base}/config`, writable(mount.type, mount.backendConfig, true));
    const rolePath = mount.type === 'token' ? 'roles' : 'role';
    await Promise.all(
      Object.entries(mount.roles).map(([role, data]) =>
        limit(async () => {
          const exists = existed && (await vault.readOptional(`${base}/${rolePath}/${role}`)) !== undefined;
          await vault.write(`${base}/${rolePath}/${role}`, writable(mount.type, data, !exists));
          report.rolesWritten++;
          const roleId = mount.roleIds[role];
          if (roleId !== undefined) {
            await vault.write(`${base}/role/${role}/role-id`, { role_id: roleId });
            report.roleIdsRestored++;
          }
        }),
      ),
    );
    await Promise.all(
      Object.entries(mount.users).map(([user, data]) =>
        limit(async () => {
          const exists = existed && (await vault.readOptional(`${base}/users/${user}`)) !== undefined;
          if (!exists) {
            report.usersNeedingPassword.push(`${mount.path}${user}`);
            return;
          }
          await vault.write(`${base}/users/${user}`, writable(mount.type, data, false));
          report.usersWritten++;
        }),
      ),
    );
  }
  report.usersNeedingPassword.sort();
  return report;
}

/** The mount-tune fields sys/auth answers that sys/auth/<path> accepts as `config`. */
function mountTuneConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config))
    if (value !== undefined && value !== null) out[key] = value;
  return out;
}

function writable(type: string, data: Record<string, unknown>, create: boolean): Record<string, unknown> {
  const skip = new Set([
    ...(READ_ONLY_FIELDS[type] ?? []),
    ...(create ? [] : (CREATE_ONLY_FIELDS[type] ?? [])),
  ]);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (skip.has(key)) continue;
    const replacement = DEPRECATED_ALIASES[key];
    if (replacement !== undefined && replacement in data) continue;
    out[key] = value === null ? [] : value;
  }
  // A null list reads back as []; writing [] clears it, which is what null meant.
  return out;
}

/**
 * Differences between two exports (before containment, after recovery), field by field, with
 * null and [] treated alike. Empty when the configuration is the same.
 */
export function diffAuthExports(before: AuthExport, after: AuthExport): string[] {
  const diffs: string[] = [];
  const afterMounts = new Map(after.mounts.map((m) => [m.path, m]));
  for (const mount of before.mounts) {
    const now = afterMounts.get(mount.path);
    if (!now) {
      diffs.push(`${mount.path}: missing`);
      continue;
    }
    if (now.type !== mount.type) diffs.push(`${mount.path}: type ${mount.type} → ${now.type}`);
    for (const [kind, a, b] of [
      ['role', mount.roles, now.roles],
      ['user', mount.users, now.users],
    ] as const) {
      for (const [name, fields] of Object.entries(a)) {
        const other = b[name];
        if (!other) {
          diffs.push(`${mount.path}${kind} ${name}: missing`);
          continue;
        }
        for (const [field, value] of Object.entries(fields))
          if (!sameValue(value, other[field])) diffs.push(`${mount.path}${kind} ${name}: ${field} differs`);
      }
      for (const name of Object.keys(b)) if (!(name in a)) diffs.push(`${mount.path}${kind} ${name}: added`);
    }
    for (const [role, id] of Object.entries(mount.roleIds))
      if (now.roleIds[role] !== id) diffs.push(`${mount.path}role ${role}: role_id differs`);
  }
  for (const [name, text] of Object.entries(before.policies))
    if (after.policies[name] !== text) diffs.push(`policy ${name}: differs`);
  return diffs;
}

function sameValue(a: unknown, b: unknown): boolean {
  const norm = (v: unknown) => (v === null || v === undefined ? [] : v);
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

// ---- encryption at rest ---------------------------------------------------------------------------

const ENCRYPTED_FORMAT = 'sealwatch-encrypted/1';
const AAD = Buffer.from(AUTH_EXPORT_FORMAT);

interface EncryptedFile {
  format: typeof ENCRYPTED_FORMAT;
  alg: 'AES-256-GCM';
  iv: string;
  tag: string;
  ciphertext: string;
}

/** AES-256-GCM with a fresh 96-bit IV; the format name is authenticated as associated data. */
export function encryptExport(exported: AuthExport, key: Buffer): string {
  assertKey(key);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(AAD);
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(exported), 'utf8'), cipher.final()]);
  const file: EncryptedFile = {
    format: ENCRYPTED_FORMAT,
    alg: 'AES-256-GCM',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
  return JSON.stringify(file) + '\n';
}

export function decryptExport(text: string, key: Buffer, source = 'auth export'): AuthExport {
  assertKey(key);
  let file: EncryptedFile;
  try {
    file = JSON.parse(text) as EncryptedFile;
  } catch (cause) {
    throw new AuthExportError(`${source} is not a sealwatch encrypted file`, { cause });
  }
  if (file.format !== ENCRYPTED_FORMAT || file.alg !== 'AES-256-GCM')
    throw new AuthExportError(`${source} is not a sealwatch encrypted file (format ${String(file.format)})`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.iv, 'base64'));
    decipher.setAAD(AAD);
    decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(file.ciphertext, 'base64')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as AuthExport;
  } catch (cause) {
    throw new AuthExportError(
      `${source} does not decrypt with this key (wrong key file, or the file was altered)`,
      { cause },
    );
  }
}

export function writeEncryptedExport(file: string, exported: AuthExport, key: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, encryptExport(exported, key), { mode: 0o600 });
  renameSync(tmp, file);
}

export function readEncryptedExport(file: string, key: Buffer): AuthExport {
  return decryptExport(readFileSync(file, 'utf8'), key, file);
}

/** A key file holds 32 bytes: raw, hex (64 characters) or base64 (44). */
export function readExportKey(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (cause) {
    throw new AuthExportError(`cannot read the export key file ${file}`, { cause });
  }
  if (raw.length === 32) return raw;
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const b64 = Buffer.from(text, 'base64');
  if (b64.length === 32 && /^[A-Za-z0-9+/]+=*$/.test(text)) return b64;
  throw new AuthExportError(
    `${file} is not a 256-bit key (32 raw bytes, 64 hex characters or base64 of 32 bytes)`,
  );
}

/** Makes a new random key file (base64, mode 0600); refuses to overwrite one. */
export function createExportKey(file: string): Buffer {
  if (existsSync(file)) throw new AuthExportError(`${file} exists already; not overwriting a key`);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}

function assertKey(key: Buffer): void {
  if (key.length !== 32) throw new AuthExportError('the export key must be 32 bytes (AES-256)');
}

// ---- the export file of an incident -------------------------------------------------------------------

export interface EnsuredExport {
  exported: AuthExport;
  file: string;
  keyFile: string;
  /** The key was made now (no key file was named): the operator must move it somewhere safe. */
  keyGenerated: boolean;
  /** The file existed and decrypted: nothing was read from Vault. */
  reused: boolean;
}

/**
 * The incident's encrypted export: reused when it exists (a re-run after containment must not
 * export the locked configuration as the original), otherwise read from Vault and written. Refuses
 * to write a fresh export that already carries the lockdown CIDR.
 */
export async function ensureAuthExport(
  vault: ExportVault,
  files: { file: string; keyFile?: string | undefined; generatedKeyFile: string },
): Promise<EnsuredExport> {
  let keyGenerated = false;
  let keyFile = files.keyFile;
  let key: Buffer;
  if (keyFile) key = readExportKey(keyFile);
  else if (existsSync(files.generatedKeyFile)) {
    keyFile = files.generatedKeyFile;
    key = readExportKey(keyFile);
  } else {
    keyFile = files.generatedKeyFile;
    key = createExportKey(keyFile);
    keyGenerated = true;
  }
  if (existsSync(files.file))
    return {
      exported: readEncryptedExport(files.file, key),
      file: files.file,
      keyFile,
      keyGenerated,
      reused: true,
    };
  const exported = await exportAuthConfig(vault);
  const locked = lockedEntries(exported);
  if (locked.length > 0)
    throw new AuthExportError(
      `the auth configuration is already locked down (${locked.slice(0, 5).join(', ')}${locked.length > 5 ? ', …' : ''} carry ${BLACKHOLE_CIDR}): ` +
        `an export now would record the lock as the original. Use the export written before containment (${files.file} of that incident)`,
      { details: { locked: locked.length } },
    );
  writeEncryptedExport(files.file, exported, key);
  return { exported, file: files.file, keyFile, keyGenerated, reused: false };
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

const trim = (path: string) => path.replace(/^\/+|\/+$/g, '');
