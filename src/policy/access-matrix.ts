import { PathTemplateMatcher, type PathTemplate } from '../config/path-template.js';
import { buildAcl, decide, type IdentityValues } from './acl.js';
import type { AclPolicy, Capability } from './policy.js';

/**
 * The effective access matrix: for every policy and the roles that carry it, which tenants' secrets
 * it can read and write, decided by the same evaluator the server agrees with (acl.ts). A policy's
 * tenants are found by evaluating it on each tenant's secret paths (from `tenancy.paths`), never by
 * reading tenant names out of rule paths, so `+`, `*` and deny rules count as the server counts them.
 */

/** A role that hands out a policy: an AppRole role, a userpass user, a token role. */
export interface RoleRef {
  /** The auth mount path without slashes (`approle`, `userpass`, `token`). */
  mount: string;
  role: string;
  /** The tenant the role belongs to, when its name fits `posture.tenant_role_template`. */
  tenant?: string;
}

/** Something the matrix could not see: what, the capability and path it needs, and why. */
export interface CouldNotRead {
  what: string;
  capability: string;
  path: string;
  reason: string;
}

export interface PolicyAccess {
  policy: string;
  roles: RoleRef[];
  tenants: { read: string[]; write: string[] };
  /** Reaches more than one tenant, or a tenant other than that of a tenant role carrying it. */
  cross_tenant: boolean;
  /** Rules with identity templates: they grant per entity, so no tenant is counted for them. */
  templated_rules: string[];
}

export interface TenantAccess {
  readers: { policy: string; roles: RoleRef[] }[];
  writers: { policy: string; roles: RoleRef[] }[];
}

export interface AccessMatrix {
  policies: PolicyAccess[];
  by_tenant: Record<string, TenantAccess>;
  could_not_read: CouldNotRead[];
}

const WRITE: readonly Capability[] = ['create', 'update', 'patch'];

export function accessMatrix(input: {
  policies: readonly AclPolicy[];
  /** Roles by the policy they carry. */
  roles: ReadonlyMap<string, RoleRef[]>;
  tenants: readonly string[];
  /** A tenant's secret paths in the API form policies are written for (`secret/data/tenants/acme/smtp`). */
  pathsOf: (tenant: string) => string[];
  couldNotRead?: readonly CouldNotRead[];
}): AccessMatrix {
  const byTenant: Record<string, TenantAccess> = {};
  for (const tenant of input.tenants) byTenant[tenant] = { readers: [], writers: [] };
  const index = positions(input.tenants);
  const policies = [...input.policies]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((policy): PolicyAccess => {
      const roles = input.roles.get(policy.name) ?? [];
      const { read, write } = reachOf([policy], input.tenants, input.pathsOf, undefined, index);
      const reached = new Set([...read, ...write]);
      // More than one tenant, or the one tenant is not that of a tenant role carrying the policy.
      const cross_tenant =
        reached.size > 1 ||
        (reached.size === 1 && roles.some((r) => r.tenant !== undefined && !reached.has(r.tenant)));
      // One entry object shared by every tenant the policy reaches (a `+` rule reaches thousands):
      // the JSON is the same, the allocations are not.
      const entry = { policy: policy.name, roles };
      for (const t of read) byTenant[t]!.readers.push(entry);
      for (const t of write) byTenant[t]!.writers.push(entry);
      return {
        policy: policy.name,
        roles,
        tenants: { read, write },
        cross_tenant,
        templated_rules: [...new Set(policy.rules.filter((r) => r.templated).map((r) => r.path))],
      };
    });
  return { policies, by_tenant: byTenant, could_not_read: [...(input.couldNotRead ?? [])] };
}

/**
 * The tenants a set of policies (merged, as for one token) reads and writes; with `identity`, the
 * templated rules are filled for that entity as the server fills them. What an actor could read
 * (issue 20's could-read) is this for the actor's policies.
 *
 * A rule tells tenants apart only by a segment equal to the tenant id or a prefix glob's partial
 * segment the id starts with (`tenants/ac*`), so every tenant that meets neither is decided exactly as
 * a made-up tenant is: evaluated once, not 5,000 times. Filled templates can name any tenant, so with
 * an identity and a templated rule every tenant is evaluated.
 */
export function tenantReach(
  policies: readonly AclPolicy[],
  tenants: readonly string[],
  pathsOf: (tenant: string) => string[],
  identity?: IdentityValues,
): { read: string[]; write: string[] } {
  return reachOf(policies, tenants, pathsOf, identity);
}

/** Where each tenant id stands in the list (every position, should one be listed twice). */
function positions(tenants: readonly string[]): Map<string, number[]> {
  const index = new Map<string, number[]>();
  tenants.forEach((tenant, i) => {
    const at = index.get(tenant);
    if (at) at.push(i);
    else index.set(tenant, [i]);
  });
  return index;
}

/**
 * tenantReach, with the tenants' positions when the caller evaluates many policies over one list:
 * then a policy that reaches no made-up tenant (most: they name their own) costs its rules' segments,
 * not a pass over 5,000 tenants. The answer is the same, in the same order.
 */
function reachOf(
  policies: readonly AclPolicy[],
  tenants: readonly string[],
  pathsOf: (tenant: string) => string[],
  identity: IdentityValues | undefined,
  index?: ReadonlyMap<string, number[]>,
): { read: string[]; write: string[] } {
  const acl = buildAcl(policies, identity);
  const oneByOne = identity !== undefined && policies.some((p) => p.rules.some((r) => r.templated));
  const segments = new Set<string>();
  const partials = new Set<string>();
  for (const rule of policies.flatMap((p) => p.rules)) {
    const parts = rule.path.split('/');
    for (const part of parts) segments.add(part);
    const last = parts[parts.length - 1]!;
    if (last.endsWith('*') && last.length > 1) partials.add(last.slice(0, -1));
  }
  const prefixes = [...partials];
  const distinct = (t: string) => oneByOne || segments.has(t) || prefixes.some((p) => t.startsWith(p));
  const reach = (tenant: string) => {
    const granted = new Set(pathsOf(tenant).flatMap((path) => decide(acl, path).capabilities));
    const root = granted.has('root');
    return { read: root || granted.has('read'), write: root || WRITE.some((c) => granted.has(c)) };
  };
  let probe = 'sealwatch-probe-tenant';
  while (segments.has(probe) || prefixes.some((p) => probe.startsWith(p))) probe += '_';
  const anyOther = reach(probe);
  const read: string[] = [];
  const write: string[] = [];
  if (index && !oneByOne && prefixes.length === 0 && !anyOther.read && !anyOther.write) {
    // Only a tenant named by a whole segment can differ from the made-up one, which gets nothing.
    const named = [...segments].flatMap((segment) => index.get(segment) ?? []).sort((a, b) => a - b);
    for (const at of named) {
      const tenant = tenants[at]!;
      const r = reach(tenant);
      if (r.read) read.push(tenant);
      if (r.write) write.push(tenant);
    }
    return { read, write };
  }
  for (const tenant of tenants) {
    const r = distinct(tenant) ? reach(tenant) : anyOther;
    if (r.read) read.push(tenant);
    if (r.write) write.push(tenant);
  }
  return { read, write };
}

/** Where a template's secrets live: its mount and KV version (v2 puts `data/` after the mount). */
export interface TemplateMount {
  template: PathTemplate;
  mount: string;
  kvVersion: 1 | 2 | undefined;
}

/**
 * A tenant's secret paths in API form: `{tenant}` filled in, any other placeholder (`{key_id}`) kept
 * as written, so a rule counts for it only if it covers every value there (`+` or `*`), not one key.
 */
export function tenantPaths(tenant: string, mounts: readonly TemplateMount[]): string[] {
  return mounts.map(({ template, mount, kvVersion }) => {
    const filled = template.segments
      .map((s) => (s.kind === 'literal' ? s.value : s.name === 'tenant' ? tenant : `{${s.name}}`))
      .join('/');
    const relative = filled.slice(mount.length).replace(/^\//, '');
    return kvVersion === 2 ? `${mount}/data/${relative}` : filled;
  });
}

/**
 * Tenants that policies name literally where a template has `{tenant}`: with the tenant source's
 * list they make the rows of the matrix (a policy may name a tenant the source does not list).
 */
export function tenantsNamedIn(policies: readonly AclPolicy[], templates: readonly PathTemplate[]): string[] {
  const matcher = new PathTemplateMatcher(templates);
  const named = new Set<string>();
  for (const policy of policies)
    for (const rule of policy.rules) {
      if (rule.templated) continue;
      // A prefix's last segment is partial (`tenants/ini*`): only its whole segments name anything.
      const path = rule.path.endsWith('*')
        ? rule.path.slice(0, rule.path.lastIndexOf('/') + 1).replace(/\/$/, '')
        : rule.path;
      const tenant = matcher.match(path)?.tenant;
      if (tenant !== undefined && tenant !== '+' && !tenant.includes('*')) named.add(tenant);
    }
  return [...named].sort();
}

/** The tenant of a role by `posture.tenant_role_template` (`{tenant}-app`), if its name fits. */
export function roleTenant(role: string, template: string | undefined): string | undefined {
  if (template === undefined) return undefined;
  const at = template.indexOf('{tenant}');
  const before = template.slice(0, at);
  const after = template.slice(at + '{tenant}'.length);
  if (role.length <= before.length + after.length || !role.startsWith(before) || !role.endsWith(after))
    return undefined;
  return role.slice(before.length, role.length - after.length);
}
