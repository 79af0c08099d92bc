import type { Config } from '../config/load.js';
import type { PathTemplate } from '../config/path-template.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { VaultClient } from '../vault/client.js';
import { VaultError } from '../vault/errors.js';
import {
  accessMatrix,
  roleTenant,
  tenantPaths,
  tenantsNamedIn,
  type AccessMatrix,
  type CouldNotRead,
  type RoleRef,
  type TemplateMount,
} from './access-matrix.js';
import { parsePolicy, type AclPolicy } from './policy.js';

/**
 * Reads what the access matrix needs from the server: every ACL policy (parsed), the roles that hand
 * policies out, and where each tenant path template lives. Whatever cannot be read is a CouldNotRead
 * entry naming the capability and path it needs; the rest is still read.
 */

type PolicyReader = Pick<VaultClient, 'listPolicies' | 'readPolicy'>;
type RoleReader = Pick<VaultClient, 'listAuthMounts' | 'list' | 'read'>;

export interface PolicySet {
  policies: AclPolicy[];
  couldNotRead: CouldNotRead[];
}

const reason = (error: unknown) =>
  error instanceof VaultError ? (error.message.split(' — ')[0] ?? error.code) : errorMessage(error);

/** Every ACL policy but `root` (it has no rules: it is everything). A policy that does not parse is named with its position. */
export async function readPolicies(vault: PolicyReader): Promise<PolicySet> {
  let names: string[];
  try {
    names = await vault.listPolicies();
  } catch (error) {
    return {
      policies: [],
      couldNotRead: [
        {
          what: 'the list of ACL policies',
          capability: 'list',
          path: 'sys/policies/acl',
          reason: reason(error),
        },
      ],
    };
  }
  const couldNotRead: CouldNotRead[] = [];
  const read = await Promise.all(
    names
      .filter((n) => n !== 'root')
      .map(async (name): Promise<AclPolicy | undefined> => {
        const path = `sys/policies/acl/${name}`;
        let text: string | undefined;
        try {
          text = await vault.readPolicy(name);
        } catch (error) {
          couldNotRead.push({ what: `policy ${name}`, capability: 'read', path, reason: reason(error) });
          return undefined;
        }
        // Deleted between the listing and the read: nothing left to evaluate.
        if (text === undefined) return undefined;
        try {
          return await parsePolicy(name, text);
        } catch (error) {
          couldNotRead.push({
            what: `policy ${name}`,
            capability: 'read',
            path,
            reason: errorMessage(error),
          });
          return undefined;
        }
      }),
  );
  return { policies: read.filter((p): p is AclPolicy => p !== undefined), couldNotRead };
}

/** Where each auth method type keeps its roles and which fields name the policies they hand out. */
const ROLE_SOURCES: Record<string, { list: string; fields: string[] }> = {
  approle: { list: 'role', fields: ['token_policies', 'policies'] },
  userpass: { list: 'users', fields: ['token_policies', 'policies'] },
  token: { list: 'roles', fields: ['allowed_policies'] },
};

export interface RoleSet {
  /** Roles by the policy they carry. */
  roles: Map<string, RoleRef[]>;
  couldNotRead: CouldNotRead[];
}

/** AppRole roles' and userpass users' token_policies, token roles' allowed_policies. */
export async function readRoles(vault: RoleReader, tenantRoleTemplate?: string): Promise<RoleSet> {
  const couldNotRead: CouldNotRead[] = [];
  const roles = new Map<string, RoleRef[]>();
  let mounts: Record<string, { type: string }>;
  try {
    mounts = await vault.listAuthMounts();
  } catch (error) {
    couldNotRead.push({
      what: 'the auth methods',
      capability: 'read',
      path: 'sys/auth',
      reason: reason(error),
    });
    return { roles, couldNotRead };
  }
  const jobs = Object.entries(mounts).flatMap(([path, info]) => {
    const source = ROLE_SOURCES[info.type];
    return source ? [{ mount: path.replace(/\/+$/, ''), source }] : [];
  });
  for (const { mount, source } of jobs) {
    const listPath = `auth/${mount}/${source.list}`;
    let names: string[];
    try {
      names = await vault.list(listPath);
    } catch (error) {
      couldNotRead.push({
        what: `the roles of auth/${mount}`,
        capability: 'list',
        path: listPath,
        reason: reason(error),
      });
      continue;
    }
    await Promise.all(
      names.map(async (name) => {
        const rolePath = `${listPath}/${name}`;
        let data: Record<string, unknown>;
        try {
          data = (await vault.read(rolePath)).data;
        } catch (error) {
          couldNotRead.push({
            what: `role ${mount}/${name}`,
            capability: 'read',
            path: rolePath,
            reason: reason(error),
          });
          return;
        }
        const carried = new Set(source.fields.flatMap((f) => stringList(data[f])));
        const tenant = roleTenant(name, tenantRoleTemplate);
        const ref: RoleRef = { mount, role: name, ...(tenant === undefined ? {} : { tenant }) };
        for (const policy of carried) roles.set(policy, [...(roles.get(policy) ?? []), ref]);
      }),
    );
  }
  for (const refs of roles.values())
    refs.sort((a, b) => a.mount.localeCompare(b.mount) || a.role.localeCompare(b.role));
  return { roles, couldNotRead };
}

/** The server answers policy lists as arrays; older roles may hold a comma-separated string. */
function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v !== '');
  if (typeof value === 'string')
    return value
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
  return [];
}

/** The mount (and KV version) of each `tenancy.paths` template, found through sys/internal/ui/mounts. */
export async function resolveTemplateMounts(
  vault: Pick<VaultClient, 'mountOf'>,
  templates: readonly PathTemplate[],
): Promise<{ mounts: TemplateMount[]; couldNotRead: CouldNotRead[] }> {
  const mounts: TemplateMount[] = [];
  const couldNotRead: CouldNotRead[] = [];
  for (const template of templates) {
    const firstVar = template.segments.findIndex((s) => s.kind === 'var');
    const prefix = template.segments
      .slice(0, firstVar)
      .map((s) => (s.kind === 'literal' ? s.value : ''))
      .join('/');
    try {
      const { mount, kvVersion } = await vault.mountOf(prefix);
      mounts.push({ template, mount, kvVersion });
    } catch (error) {
      couldNotRead.push({
        what: `the mount of tenant path template ${template.source}`,
        capability: 'read',
        path: `sys/internal/ui/mounts/${prefix}`,
        reason: reason(error),
      });
    }
  }
  return { mounts, couldNotRead };
}

/**
 * The matrix for the configured tenant paths. `tenants` are the tenant source's ids (the caller lists
 * them: src/tenants); tenants that policies name literally are added. `only` narrows the rows to one tenant.
 */
export async function readAccessMatrix(
  deps: {
    vault: PolicyReader & RoleReader & Pick<VaultClient, 'mountOf'>;
    config: Pick<Config, 'tenancy' | 'posture'>;
  },
  options: {
    tenants: readonly string[];
    couldNotListTenants?: CouldNotRead;
    only?: string;
    /** Policies already read (posture reads them once per run); read here when absent. */
    policySet?: PolicySet;
  },
): Promise<AccessMatrix> {
  const { tenancy, posture } = deps.config;
  if (tenancy.paths.length === 0)
    throw new ConfigError(
      'tenancy.paths is empty: the access matrix needs the tenant secret path templates (e.g. secret/tenants/{tenant}/smtp)',
    );
  const [policySet, roleSet, templates] = await Promise.all([
    options.policySet ?? readPolicies(deps.vault),
    readRoles(deps.vault, posture.tenantRoleTemplate),
    resolveTemplateMounts(deps.vault, tenancy.paths),
  ]);
  const named = tenantsNamedIn(
    policySet.policies,
    templates.mounts.map((m) => m.template),
  );
  const ids = [...new Set([...options.tenants, ...named])]
    .filter((t) => !tenancy.exclude.has(t))
    .filter((t) => options.only === undefined || t === options.only)
    .sort();
  return accessMatrix({
    policies: policySet.policies,
    roles: roleSet.roles,
    tenants: ids,
    pathsOf: (tenant) => tenantPaths(tenant, templates.mounts),
    couldNotRead: [
      ...(options.couldNotListTenants ? [options.couldNotListTenants] : []),
      ...policySet.couldNotRead,
      ...roleSet.couldNotRead,
      ...templates.couldNotRead,
    ],
  });
}
