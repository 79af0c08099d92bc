import type { AclPolicy, Capability, PathRule } from './policy.js';

/**
 * Effective capabilities, decided the way OpenBao decides them (internal/vault/policy/acl.go):
 * 1. the token's policies are merged into one ACL first: rules written for the same path (same
 *    kind, same text) merge by union of capabilities, and a deny among them leaves only deny;
 * 2. then ONE rule decides a path: an exact rule (for a path ending in `/` also the rule without
 *    it), else the most specific of the longest matching prefix rule and the matching `+` rules
 *    (first `+`/glob position later wins, then not a prefix, then fewer `+` segments, then
 *    longer, then lexicographically greater), else for a path ending in `/` the same search
 *    without the slash;
 * 3. no rule, or a deciding rule with deny or nothing, is `deny`.
 * Rules with an identity template count only once filled for an entity (the server drops a rule
 * whose template it cannot fill, so a token without an entity does not get it).
 */

/** The values an identity template may use; a template naming anything else is not filled. */
export interface IdentityValues {
  entityId?: string;
  entityName?: string;
  entityMetadata?: Record<string, string>;
}

interface Permissions {
  capabilities: Set<Capability>;
  /** The policies that contributed each granted capability (for evidence). */
  policies: Set<string>;
  /** The path as the rule wrote it, `*` included. */
  rule: string;
}

export interface Acl {
  readonly exact: ReadonlyMap<string, Permissions>;
  /** Keyed by the path without its trailing `*`. */
  readonly prefix: ReadonlyMap<string, Permissions>;
  /** Keyed by the path as written (a trailing `*` kept). */
  readonly segment: ReadonlyMap<string, Permissions>;
  readonly root: boolean;
}

export interface Decision {
  /** Effective capabilities in the server's order; `['deny']` when nothing is granted. */
  capabilities: string[];
  /** The rule path that decided, as written; undefined when none matched. */
  rule?: string;
  policies: string[];
}

/** Merges policies into one ACL, as the server does for a token carrying them. */
export function buildAcl(policies: readonly AclPolicy[], identity?: IdentityValues): Acl {
  const exact = new Map<string, Permissions>();
  const prefix = new Map<string, Permissions>();
  const segment = new Map<string, Permissions>();
  const root = policies.some((p) => p.name === 'root');
  for (const policy of policies)
    for (const written of policy.rules) {
      const rule = written.templated ? fillTemplate(written, identity) : written;
      if (!rule) continue;
      const [table, key] =
        rule.kind === 'segment'
          ? [segment, rule.path]
          : rule.kind === 'prefix'
            ? [prefix, rule.path.slice(0, -1)]
            : [exact, rule.path];
      const existing = table.get(key);
      if (!existing) {
        table.set(key, {
          capabilities: new Set(rule.capabilities),
          policies: new Set([policy.name]),
          rule: rule.path,
        });
        continue;
      }
      if (existing.capabilities.has('deny')) continue;
      if (rule.capabilities.includes('deny')) existing.capabilities = new Set(['deny']);
      else for (const c of rule.capabilities) existing.capabilities.add(c);
      existing.policies.add(policy.name);
    }
  return { exact, prefix, segment, root };
}

const ORDER: Capability[] = ['sudo', 'read', 'list', 'update', 'delete', 'create', 'patch', 'scan'];

/** What `sys/capabilities` answers for `path` (without a namespace), with the deciding rule. */
export function decide(acl: Acl, rawPath: string): Decision {
  if (acl.root) return { capabilities: ['root'], policies: ['root'] };
  const path = rawPath.replace(/^\/+/, '');
  const found = lookup(acl, path);
  const granted = found ? ORDER.filter((c) => found.capabilities.has(c)) : [];
  const denied = !found || found.capabilities.has('deny') || granted.length === 0;
  return {
    capabilities: denied ? ['deny'] : granted,
    ...(found ? { rule: found.rule } : {}),
    policies: found ? [...found.policies].sort() : [],
  };
}

/** Whether `capability` is effective on `path`. */
export function allows(acl: Acl, path: string, capability: Capability): boolean {
  const { capabilities } = decide(acl, path);
  return capabilities.includes('root') || capabilities.includes(capability);
}

// sys/capabilities checks as a list operation, which also tries the path without a trailing slash.
function lookup(acl: Acl, path: string): Permissions | undefined {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : undefined;
  return (
    acl.exact.get(path) ??
    (trimmed === undefined ? undefined : acl.exact.get(trimmed)) ??
    nonExact(acl, path) ??
    (trimmed === undefined ? undefined : nonExact(acl, trimmed))
  );
}

interface Candidate {
  firstWildcard: number;
  isPrefix: boolean;
  wildcards: number;
  path: string;
  permissions: Permissions;
}

function nonExact(acl: Acl, path: string): Permissions | undefined {
  const candidates: Candidate[] = [];
  let longest: string | undefined;
  for (const key of acl.prefix.keys())
    if (path.startsWith(key) && (longest === undefined || key.length > longest.length)) longest = key;
  if (longest !== undefined) {
    const permissions = acl.prefix.get(longest)!;
    if (acl.segment.size === 0) return permissions;
    candidates.push({
      firstWildcard: longest.length,
      isPrefix: true,
      wildcards: 0,
      path: longest,
      permissions,
    });
  }
  const parts = path.split('/');
  for (const [written, permissions] of acl.segment) {
    const candidate = matchSegmentRule(written, parts);
    if (candidate) candidates.push({ ...candidate, permissions });
  }
  let best: Candidate | undefined;
  for (const c of candidates) if (best === undefined || lowerPriority(best, c)) best = c;
  return best?.permissions;
}

function matchSegmentRule(
  written: string,
  parts: readonly string[],
): Omit<Candidate, 'permissions'> | undefined {
  if (written === '') return undefined;
  const isPrefix = written.endsWith('*');
  const pattern = isPrefix ? written.slice(0, -1) : written;
  const patternParts = pattern.split('/');
  if (parts.length < patternParts.length) return undefined;
  if (!isPrefix && parts.length !== patternParts.length) return undefined;
  let wildcards = 0;
  for (let i = 0; i < patternParts.length; i++) {
    const want = patternParts[i]!;
    const got = parts[i]!;
    if (want === '+') wildcards++;
    else if (want === got) continue;
    else if (!(isPrefix && i === patternParts.length - 1 && got.startsWith(want))) return undefined;
  }
  return { firstWildcard: written.indexOf('+'), isPrefix, wildcards, path: pattern };
}

/** The server's order between matching non-exact rules: true when `a` loses to `b`. */
function lowerPriority(a: Omit<Candidate, 'permissions'>, b: Omit<Candidate, 'permissions'>): boolean {
  if (a.firstWildcard !== b.firstWildcard) return a.firstWildcard < b.firstWildcard;
  if (a.isPrefix !== b.isPrefix) return a.isPrefix;
  if (a.wildcards !== b.wildcards) return a.wildcards > b.wildcards;
  if (a.path.length !== b.path.length) return a.path.length < b.path.length;
  return a.path < b.path;
}

const TEMPLATE_PART = /\{\{\s*([^{}\s]+)\s*\}\}/g;

/** The rule with its identity templates filled, or undefined when one cannot be (the server skips it). */
function fillTemplate(rule: PathRule, identity: IdentityValues | undefined): PathRule | undefined {
  if (!identity) return undefined;
  let unfilled = false;
  const path = rule.path.replace(TEMPLATE_PART, (_, name: string) => {
    const value = identityValue(name, identity);
    if (value === undefined) unfilled = true;
    return value ?? '';
  });
  return unfilled ? undefined : { ...rule, path, templated: false };
}

function identityValue(name: string, identity: IdentityValues): string | undefined {
  if (name === 'identity.entity.id') return identity.entityId;
  if (name === 'identity.entity.name') return identity.entityName;
  const metadata = /^identity\.entity\.metadata\.(.+)$/.exec(name);
  return metadata ? identity.entityMetadata?.[metadata[1]!] : undefined;
}
