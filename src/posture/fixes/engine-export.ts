import { SealwatchError } from '../../errors.js';
import { redactValue } from '../../logging/redactor.js';
import type { VaultClient } from '../../vault/client.js';
import { NotFoundError } from '../../vault/errors.js';
import type { MountInfo } from '../../vault/types.js';

type EngineVault = Pick<VaultClient, 'list' | 'read'>;

/** Secret engines `posture fix` never disables, by path and by type: the server's own. */
export const PROTECTED_ENGINE_PATHS: readonly string[] = ['sys/', 'identity/', 'cubbyhole/'];
export const PROTECTED_ENGINE_TYPES: readonly string[] = ['system', 'identity', 'cubbyhole'];

/**
 * Where each engine type sealwatch knows keeps what disabling destroys (secrets, keys, managed
 * passwords, issued certificates): a LIST that must come back empty. Leases (dynamic credentials)
 * are checked for every type, under sys/leases/lookup/<mount>/. A type that is not here is never
 * disabled automatically: sealwatch cannot tell whether it holds anything.
 */
const HOLDINGS: Record<string, (mount: string, info: MountInfo) => { path: string; what: string }[]> = {
  kv: (m, info) =>
    info.options?.['version'] === '2'
      ? [{ path: `${m}/metadata`, what: 'secret(s) or folder(s), deleted versions included' }]
      : [{ path: m, what: 'secret(s) or folder(s)' }],
  // Transit keys never leave the server: disabling loses them and everything they encrypted.
  transit: (m) => [
    { path: `${m}/keys`, what: 'encryption key(s) (lost for good: ciphertexts become unreadable)' },
  ],
  pki: (m) => [
    { path: `${m}/issuers`, what: 'CA issuer(s)' },
    { path: `${m}/keys`, what: 'private key(s)' },
    { path: `${m}/certs`, what: 'stored certificate(s)' },
  ],
  ssh: (m) => [{ path: `${m}/issuers`, what: 'SSH CA signing key(s)' }],
  totp: (m) => [{ path: `${m}/keys`, what: 'TOTP key(s) (their seeds)' }],
  // A static role's current password lives in the engine: the database user keeps it, nobody can read it again.
  database: (m) => [{ path: `${m}/static-roles`, what: 'static role(s) with a managed password' }],
};

/** Configuration an engine type answers without secrets: single reads and LIST + read per item. */
const CONFIG: Record<string, (mount: string, info: MountInfo) => { reads: string[]; lists: string[] }> = {
  kv: (m, info) => ({ reads: info.options?.['version'] === '2' ? [`${m}/config`] : [], lists: [] }),
  transit: (m) => ({ reads: [`${m}/cache-config`, `${m}/config/keys`], lists: [] }),
  pki: (m) => ({
    reads: [
      `${m}/config/urls`,
      `${m}/config/crl`,
      `${m}/config/cluster`,
      `${m}/config/auto-tidy`,
      `${m}/config/issuers`,
      `${m}/config/keys`,
      `${m}/config/acme`,
    ],
    lists: [`${m}/roles`],
  }),
  ssh: (m) => ({ reads: [`${m}/config/zeroaddress`], lists: [`${m}/roles`] }),
  totp: () => ({ reads: [], lists: [] }),
  database: (m) => ({ reads: [], lists: [`${m}/config`, `${m}/roles`] }),
};

export const knownEngineType = (type: string) => type in HOLDINGS;

/** A read the fix needs could not be made: says which path and which capability. */
export class EngineReadError extends SealwatchError {
  constructor(path: string, capability: string, cause: unknown) {
    super(
      'posture_fix_engine_read',
      `could not ${capability} ${path} (needs ${capability} on ${path}): ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, details: { path, capability } },
    );
  }
}

export interface EngineHoldings {
  /** What the engine still holds, one line per kind: "2 secret(s), deleted versions included under kv/metadata/ (app, db)". */
  holds: string[];
  /** The paths listed to know it (leases included), for the plan and the evidence. */
  checked: string[];
}

const trim = (path: string) => path.replace(/^\/+|\/+$/g, '');

async function listOrExplain(vault: EngineVault, path: string, capability = 'list'): Promise<string[]> {
  try {
    return await vault.list(path);
  } catch (error) {
    throw new EngineReadError(`${path}/`, capability, error);
  }
}

/**
 * What disabling the engine at `mount` would destroy. Throws EngineReadError when a list is denied
 * (an engine whose content could not be seen is not empty as far as the fix knows).
 */
export async function engineHoldings(
  vault: EngineVault,
  mount: string,
  info: MountInfo,
): Promise<EngineHoldings> {
  const m = trim(mount);
  const probes = [...(HOLDINGS[info.type]?.(m, info) ?? [])];
  const holds: string[] = [];
  const checked: string[] = [];
  for (const probe of probes) {
    const keys = await listOrExplain(vault, probe.path);
    checked.push(`${probe.path}/`);
    if (keys.length) holds.push(describe(keys, probe.what, `${probe.path}/`));
  }
  const leasePath = `sys/leases/lookup/${m}`;
  const leases = await listOrExplain(vault, leasePath, 'sudo list');
  checked.push(`${leasePath}/`);
  if (leases.length)
    holds.push(
      describe(
        leases,
        'live lease prefix(es) (disabling revokes them: the credentials stop working)',
        `${leasePath}/`,
      ),
    );
  return { holds, checked };
}

function describe(keys: string[], what: string, path: string): string {
  const shown = keys.slice(0, 5).join(', ');
  return `${keys.length} ${what} under ${path} (${shown}${keys.length > 5 ? ', …' : ''})`;
}

/** One secret engine's configuration, as `posture fix` writes it before disabling the engine. */
export interface ExportedEngine {
  /** Mount path with a trailing slash, as sys/mounts lists it: `kv/`. */
  path: string;
  type: string;
  description: string;
  accessor: string;
  options: Record<string, string> | null;
  local: boolean;
  seal_wrap: boolean;
  /** sys/mounts' config block of the mount. */
  config: Record<string, unknown>;
  /** sys/mounts/<mount>/tune. */
  tune: Record<string, unknown>;
  /** The engine's own settings by path relative to the mount (`config/crl`, `roles/web`, `config/pg`). */
  settings: Record<string, Record<string, unknown>>;
}

/**
 * Reads the engine's mount settings, tune and, for the types sealwatch knows, its own settings
 * (KV config, transit cache and key config, PKI config and roles, SSH roles, database connections
 * and roles) — never a secret value: the server leaves passwords out of database connections
 * (and masks one written inline in a connection URL), and the result goes through the redactor as
 * a last net. A read that fails (other than 404) throws: the engine is not disabled on a partial export.
 */
export async function exportEngine(
  vault: EngineVault,
  mount: string,
  info: MountInfo,
): Promise<ExportedEngine> {
  const m = trim(mount);
  const read = async (path: string): Promise<Record<string, unknown> | undefined> => {
    try {
      return (await vault.read(path)).data;
    } catch (error) {
      // A setting the engine does not have (never written) is absent from the export, not an error.
      if (error instanceof NotFoundError) return undefined;
      throw new EngineReadError(path, 'read', error);
    }
  };
  const tune = await read(`sys/mounts/${m}/tune`);
  const settings: Record<string, Record<string, unknown>> = {};
  const plan = CONFIG[info.type]?.(m, info) ?? { reads: [], lists: [] };
  for (const path of plan.reads) {
    const data = await read(path);
    if (data) settings[path.slice(m.length + 1)] = data;
  }
  for (const listPath of plan.lists) {
    const names = (await listOrExplain(vault, listPath)).filter((n) => !n.endsWith('/')).sort();
    for (const name of names) {
      const data = await read(`${listPath}/${name}`);
      if (data) settings[`${listPath.slice(m.length + 1)}/${name}`] = data;
    }
  }
  const exported = redactValue({
    path: `${m}/`,
    type: info.type,
    description: info.description ?? '',
    accessor: info.accessor,
    options: info.options ?? null,
    local: info.local ?? false,
    seal_wrap: info.seal_wrap ?? false,
    config: { ...(info.config ?? {}) },
    tune: tune ?? {},
    settings,
  });
  keepUrlTemplates(settings, exported.settings);
  return exported;
}

/** A connection URL whose password is the `{{password}}` template: no secret in it. */
const TEMPLATED_URL = /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:\{\{password\}\}@/i;

/**
 * The redactor cuts the password of every URL; a database connection written with the templated
 * URL (`postgresql://{{username}}:{{password}}@host/db`, what OpenBao recommends) has the template
 * there, which the export needs to be written back. The server itself masks a literal password
 * (`xxxxx`), which stays redacted.
 */
function keepUrlTemplates(
  original: Record<string, Record<string, unknown>>,
  redacted: Record<string, Record<string, unknown>>,
): void {
  for (const [key, entry] of Object.entries(original)) {
    const details = entry['connection_details'] as Record<string, unknown> | undefined;
    const url = details?.['connection_url'];
    const out = redacted[key]?.['connection_details'] as Record<string, unknown> | undefined;
    if (typeof url === 'string' && TEMPLATED_URL.test(url) && out) out['connection_url'] = url;
  }
}
