import type { Config } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { tenantPaths, tenantReach, type CouldNotRead } from '../policy/access-matrix.js';
import { parsePolicy, type AclPolicy } from '../policy/policy.js';
import { resolveTemplateMounts } from '../policy/policy-sources.js';
import { listTenants } from '../tenants/tenant-source.js';
import type { VaultClient } from '../vault/client.js';
import { PermissionDeniedError, VaultError } from '../vault/errors.js';

/**
 * Could-read beside did-read (issue 20): the tenants whose secrets a set of policies lets a token
 * read, evaluated with the access matrix's evaluator (src/policy) on the tenancy's tenants and path
 * templates. Whatever could not be read (a policy, the tenant list, a template's mount) is a
 * CouldNotRead naming capability and path: the reach is then a lower bound, and says so.
 */

export interface Reach {
  /** Counted tenants the policies together let a token read. */
  read: string[];
  couldNotRead: CouldNotRead[];
}

export interface CouldReadEvaluator {
  /** The tenants a token carrying these policies (merged, as the server merges them) can read. */
  reach(policies: readonly string[]): Promise<Reach>;
  /** The policies a role hands out (`token_policies`), for a role suspect; null when unreadable. */
  rolePolicies(
    mount: string,
    role: string,
  ): Promise<{ policies: string[] | null; couldNotRead: CouldNotRead[] }>;
}

export interface CouldReadDeps {
  vault: Pick<VaultClient, 'readPolicy' | 'mountOf' | 'list' | 'read'>;
  config: Pick<Config, 'tenancy'>;
}

/** Where each auth method type keeps a role, by the suspect's mount (`role:approle/mailer`). */
const ROLE_PATHS = ['role', 'users', 'roles'] as const;

const reasonOf = (error: unknown) =>
  error instanceof VaultError ? (error.message.split(' — ')[0] ?? error.code) : errorMessage(error);

export function createCouldRead(deps: CouldReadDeps): CouldReadEvaluator {
  const policyCache = new Map<string, Promise<{ policy?: AclPolicy; couldNotRead?: CouldNotRead }>>();
  const readOne = (name: string) => {
    let cached = policyCache.get(name);
    if (!cached) {
      const path = `sys/policies/acl/${name}`;
      cached = (async () => {
        try {
          const text = await deps.vault.readPolicy(name);
          if (text === undefined)
            return {
              couldNotRead: { what: `policy ${name}`, capability: 'read', path, reason: 'no such policy' },
            };
          return { policy: await parsePolicy(name, text) };
        } catch (error) {
          return {
            couldNotRead: { what: `policy ${name}`, capability: 'read', path, reason: reasonOf(error) },
          };
        }
      })();
      policyCache.set(name, cached);
    }
    return cached;
  };
  let tenancy: Promise<{ tenants: string[]; pathsOf: (t: string) => string[]; couldNotRead: CouldNotRead[] }>;
  const loadTenancy = () =>
    (tenancy ??= (async () => {
      const couldNotRead: CouldNotRead[] = [];
      let tenants: string[] = [];
      try {
        tenants = (await listTenants(deps.config, deps.vault)).counted;
      } catch (error) {
        const source = deps.config.tenancy.source;
        couldNotRead.push({
          what: 'the tenant list',
          capability: 'list',
          path: source?.kind === 'kv' ? source.path : 'tenancy.source',
          reason: reasonOf(error),
        });
      }
      const mounts = await resolveTemplateMounts(deps.vault, deps.config.tenancy.paths);
      couldNotRead.push(...mounts.couldNotRead);
      return { tenants, pathsOf: (t: string) => tenantPaths(t, mounts.mounts), couldNotRead };
    })());

  return {
    async reach(names) {
      const { tenants, pathsOf, couldNotRead } = await loadTenancy();
      const read = await Promise.all(
        // root has no rules to read: it is everything.
        names.filter((n) => n !== 'root').map(readOne),
      );
      const policies = read.flatMap((r) => (r.policy ? [r.policy] : []));
      if (names.includes('root')) policies.push({ name: 'root', rules: [] } satisfies AclPolicy);
      return {
        read: tenantReach(policies, tenants, pathsOf).read.sort(),
        couldNotRead: [...couldNotRead, ...read.flatMap((r) => (r.couldNotRead ? [r.couldNotRead] : []))],
      };
    },
    async rolePolicies(mount, role) {
      const tried: { entry: CouldNotRead; refused: boolean }[] = [];
      for (const kind of ROLE_PATHS) {
        const path = `auth/${mount}/${kind}/${role}`;
        try {
          const data = (await deps.vault.read(path)).data;
          const listed = [data['token_policies'], data['policies'], data['allowed_policies']].flatMap((v) =>
            Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && p !== '') : [],
          );
          return { policies: [...new Set(listed)], couldNotRead: [] };
        } catch (error) {
          // Each auth method keeps roles under its own path: the one that answers is the role.
          tried.push({
            entry: { what: `role ${mount}/${role}`, capability: 'read', path, reason: reasonOf(error) },
            refused: error instanceof PermissionDeniedError,
          });
        }
      }
      // Where the role lives depends on the auth method, which is not known here: every path tried
      // is named, and the reason of a refusal first (a 404 on another method's path says less).
      const shown = tried.find((t) => t.refused) ?? tried[0]!;
      return {
        policies: null,
        couldNotRead: [{ ...shown.entry, path: tried.map((t) => t.entry.path).join(' or ') }],
      };
    },
  };
}

/** A could-not-read entry as one line of the assessment's notes. */
export function couldNotReadNote(entry: CouldNotRead, about: string): string {
  return `could not read ${entry.what} (needs ${entry.capability} on ${entry.path}: ${entry.reason}): ${about}`;
}
