import { ingestAuditFiles } from '../../audit/ingest.js';
import type { Config } from '../../config/load.js';
import { traceLeak, type LeakEvent } from '../../leak/leak-trace.js';
import type { Logger } from '../../logging/logger.js';
import type { Store } from '../../store/store.js';
import { mustParsePathTemplate, PathTemplateMatcher } from '../../config/path-template.js';
import type { VaultClient } from '../../vault/client.js';
import { BadRequestError, PermissionDeniedError } from '../../vault/errors.js';
import type { AuditDevice, TokenInfo } from '../../vault/types.js';
import { orUnchecked, uncheckedFact, type UncheckedFact } from '../could-not-check.js';
import { shortError } from '../nodes.js';
import { parsePolicy } from '../../policy/policy.js';
import { decidingRule, grantsCapability, type PolicyRule } from './policy-rules.js';

/**
 * What the audit trail and the cluster say about one leaked value: who read it, what it is (a
 * live token, a KV secret's versions), which policies let the readers in. Everything here is safe
 * to journal: paths, versions, accessors, times, never the value.
 */
export interface LeakFacts {
  kind: 'token' | 'value';
  trace: {
    hash_lookups: number;
    events: number;
    /** Events made by the responder's own token while tracing (audit-hash, lookups, reads of versions). */
    own_events_ignored: number;
    ingest?: { files: string[]; events: number; duplicates: number; failures: string[] };
  };
  devices: AuditDevice[];
  token?: TokenFacts;
  /** Calls made with the leaked token (when it is a token). */
  tokenUses: LeakEvent[];
  /** Writes that carried the value (where it was put). */
  writes: LeakEvent[];
  readers: Reader[];
  holders: Holder[];
  /** Secrets engines that issued the value under a lease (pki/issue/web, database/creds/app). */
  leases: LeasePrefix[];
  grants: PolicyGrant[];
  /** What could not be looked at (refused, failed): each is a finding, never "nothing found". */
  unchecked: UncheckedFact[];
}

export interface LeasePrefix {
  /** The issuing path: every lease of it lives under this prefix. */
  prefix: string;
  mount_type: string;
  /** Leases under the prefix now. */
  leases: number;
}

export type TokenFacts =
  | {
      valid: true;
      accessor: string;
      display_name: string;
      policies: string[];
      expire_time: string | null;
      auth_path: string;
    }
  | { valid: false; accessor?: string; refused: string };

export interface LeakRead {
  time: string;
  path: string;
  /** `read` for a KV read; `update` for a secret issued by a POST (pki/issue/…). */
  operation: string;
  remote_address: string | null;
}

export interface Reader {
  accessor: string | null;
  display_name: string | null;
  /** An application (its display name starts with an expected prefix, `approle` by default). */
  expected: boolean;
  policies: string[];
  /** Whether the reading token still works (undefined: unknown accessor). */
  token_valid?: boolean;
  reads: LeakRead[];
}

export interface Holder {
  /** CLI form, as rotation plans name secrets: `secret/tenants/acme/smtp`. */
  path: string;
  /** API form, as policies and the audit log name it: `secret/data/tenants/acme/smtp`. */
  api_path: string;
  mount: string;
  /** Live versions whose data holds the value. */
  versions: number[];
  current_version: number;
  /** Whether the current version holds it: the value still works. */
  current: boolean;
  fields: string[];
  tenant?: string;
  kind?: string;
  /** Why the rotation engine cannot replace it, if it cannot. */
  not_rotatable?: string;
}

/** A policy whose deciding rule lets an unexpected reader read a leaked path. */
export interface PolicyGrant {
  policy: string;
  path: string;
  rule: PolicyRule;
  /** The policy's text as the server holds it now. */
  text: string;
  readers: string[];
}

export interface LeakFactsDeps {
  vault: VaultClient;
  store: Pick<Store, 'auditEvents' | 'auditAnalysis'>;
  config: Pick<Config, 'tenancy' | 'rotation'>;
  logger: Logger;
}

export interface LeakFactsInput {
  value: string;
  /** Treat it as a token (looked up, its uses listed) even when it does not look like one. */
  token: boolean;
  auditLogs: readonly string[];
  expectedReaders: readonly string[];
}

const TOKEN_SHAPE = /^(?:hv[sbr]|s|b|r)\.[A-Za-z0-9_-]{20,}$/;

export function looksLikeToken(value: string): boolean {
  return TOKEN_SHAPE.test(value);
}

/** A field holds the value when it is the value (a file's trailing newline aside). */
const holds = (field: unknown, value: string) =>
  typeof field === 'string' && (field === value || field.replace(/\r?\n$/, '') === value);

export async function gatherLeakFacts(deps: LeakFactsDeps, input: LeakFactsInput): Promise<LeakFacts> {
  const { vault, store, logger } = deps;
  const ingest = input.auditLogs.length > 0 ? await ingestLogs(deps, input.auditLogs) : undefined;
  const isToken = input.token || looksLikeToken(input.value);
  const unchecked: UncheckedFact[] = [];
  const [self, devices, token] = await Promise.all([
    // Without its own accessor the trace keeps the responder's events too: more shown, nothing hidden.
    vault.tokenLookupSelf().catch(() => undefined),
    vault.listAuditDevices(),
    isToken ? lookupToken(vault, input.value, unchecked) : Promise.resolve(undefined),
  ]);
  const trace =
    devices.length > 0
      ? await traceLeak(input.value, { vault, analysis: store.auditAnalysis, logger })
      : { hash_lookups: 0, events: [] };

  let ownIgnored = 0;
  const events = trace.events.filter((e) => {
    const path = e.path ?? '';
    // Hashing the value through a device is itself an audited request carrying it.
    if (path.startsWith('sys/audit-hash/')) return false;
    if (!self || e.accessor !== self.accessor) return true;
    // The responder's own token: its lookups and reads are this runbook's; a write it made is evidence.
    const keep =
      e.type === 'request' &&
      (e.operation === 'create' || e.operation === 'update') &&
      !path.startsWith('sys/') &&
      !path.startsWith('auth/token/');
    if (!keep) ownIgnored++;
    return keep;
  });

  const tokenAccessor = token?.accessor ?? (isToken ? issuedAccessor(events) : undefined);
  const tokenUses = isToken
    ? events.filter(
        (e) => e.accessor === tokenAccessor && (e.type === 'request' || e.path?.startsWith('auth/')),
      )
    : [];
  const writes = events.filter(
    (e) =>
      e.type === 'request' &&
      (e.operation === 'create' || e.operation === 'update') &&
      !(isToken && e.accessor === tokenAccessor),
  );
  // Responses that handed the value out: KV reads, and secrets engines issuing it (pki/issue is a POST).
  const reads = events.filter(
    (e) =>
      e.type === 'response' &&
      e.path &&
      !e.path.startsWith('auth/') &&
      !e.path.startsWith('sys/') &&
      (e.operation === 'read' || e.operation === 'update' || e.operation === 'create'),
  );

  const readers = await describeReaders(deps, reads, input.expectedReaders, unchecked);
  const holderPaths = [...new Set([...reads, ...writes].map((e) => e.path!).filter(Boolean))];
  const holders = (
    await Promise.all(
      holderPaths.map((p) =>
        orUnchecked(
          findHolder(deps, p, input.value),
          unchecked,
          `whether ${p} still holds the leaked value`,
          {
            capability: 'read',
            path: p,
          },
        ),
      ),
    )
  ).filter((h): h is Holder => h !== undefined);
  const grants = await findGrants(vault, readers, unchecked);
  const leases = await findLeasePrefixes(vault, [...new Set(reads.map((e) => e.path!))], unchecked);

  return {
    kind: isToken ? 'token' : 'value',
    trace: {
      hash_lookups: trace.hash_lookups,
      events: events.length,
      own_events_ignored: ownIgnored,
      ...(ingest ? { ingest } : {}),
    },
    devices,
    ...(token ? { token } : {}),
    tokenUses,
    writes,
    readers,
    holders,
    leases,
    grants,
    unchecked,
  };
}

async function ingestLogs(deps: LeakFactsDeps, files: readonly string[]) {
  const { counts, failures } = await ingestAuditFiles(files, {
    store: deps.store,
    matcher: new PathTemplateMatcher(deps.config.tenancy.paths),
    logger: deps.logger,
  });
  return {
    files: [...files],
    events: counts.events,
    duplicates: counts.duplicates,
    failures: failures.map((f) => f.error.message),
  };
}

async function lookupToken(
  vault: VaultClient,
  value: string,
  unchecked: UncheckedFact[],
): Promise<TokenFacts | undefined> {
  try {
    const info = await vault.tokenLookup(value);
    // Only named fields: the lookup answer carries the token itself (`id`).
    return {
      valid: true,
      accessor: info.accessor,
      display_name: info.display_name,
      policies: info.policies ?? [],
      expire_time: info.expire_time ?? null,
      auth_path: info.path,
    };
  } catch (error) {
    // The server answers "bad token" (403) or 400 for a token that does not exist (any more).
    if (error instanceof BadRequestError || (error instanceof PermissionDeniedError && isBadToken(error)))
      return { valid: false, refused: shortError(error) };
    unchecked.push(
      uncheckedFact('whether the leaked token still works', error, {
        capability: 'update',
        path: 'auth/token/lookup',
      }),
    );
    return undefined;
  }
}

const isBadToken = (error: PermissionDeniedError) => error.serverErrors.some((e) => /bad token/i.test(e));

/** A reader's token now: live (with its policies), gone, or unknown because the lookup failed. */
async function readerToken(
  vault: VaultClient,
  accessor: string,
  unchecked: UncheckedFact[],
): Promise<{ info?: TokenInfo; valid: boolean } | undefined> {
  try {
    return { info: await vault.tokenLookupAccessor(accessor), valid: true };
  } catch (error) {
    // 400 "invalid accessor": the token was revoked or expired.
    if (error instanceof BadRequestError) return { valid: false };
    unchecked.push(
      uncheckedFact(`whether the token of reader ${accessor} still works, and its policies`, error, {
        capability: 'update',
        path: 'auth/token/lookup-accessor',
      }),
    );
    return undefined;
  }
}

/** The accessor of a token no longer live: the one its login response and its calls carry. */
function issuedAccessor(events: readonly LeakEvent[]): string | undefined {
  const counts = new Map<string, number>();
  for (const e of events) if (e.accessor) counts.set(e.accessor, (counts.get(e.accessor) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

async function describeReaders(
  deps: LeakFactsDeps,
  reads: readonly LeakEvent[],
  expectedPrefixes: readonly string[],
  unchecked: UncheckedFact[],
): Promise<Reader[]> {
  const byAccessor = new Map<string | null, LeakEvent[]>();
  for (const e of reads) byAccessor.set(e.accessor, [...(byAccessor.get(e.accessor) ?? []), e]);
  const accessors = [...byAccessor.keys()].filter((a): a is string => a !== null);
  const stored = new Map(
    (await deps.store.auditAnalysis.accessorIdentities(accessors)).map((i) => [i.accessor, i]),
  );
  return Promise.all(
    [...byAccessor].map(async ([accessor, events]): Promise<Reader> => {
      const token = accessor ? await readerToken(deps.vault, accessor, unchecked) : undefined;
      const live = token?.info;
      const displayName =
        live?.display_name ?? events[0]!.display_name ?? stored.get(accessor!)?.display_name ?? null;
      return {
        accessor,
        display_name: displayName,
        expected: expectedPrefixes.some((p) => (displayName ?? '').startsWith(p)),
        policies: live?.policies ?? stored.get(accessor ?? '')?.policies ?? [],
        ...(token ? { token_valid: token.valid } : {}),
        reads: events.map((e) => ({
          time: e.time,
          path: e.path!,
          operation: e.operation ?? 'read',
          remote_address: e.remote_address,
        })),
      };
    }),
  );
}

/** The live versions of one KV v2 secret whose data holds the value. */
async function scanVersions(vault: VaultClient, mount: string, relative: string, value: string) {
  const kv = vault.kv(mount);
  const metadata = await kv.readMetadata(relative);
  if (!metadata) return undefined;
  const live = Object.entries(metadata.versions)
    .filter(([, v]) => !v.destroyed && !v.deletion_time)
    .map(([n]) => Number(n));
  const scanned = await Promise.all(
    live.map(async (version) => {
      const got = await kv.read(relative, version);
      const fields = Object.entries(got?.data ?? {})
        .filter(([, v]) => holds(v, value))
        .map(([k]) => k);
      return { version, fields };
    }),
  );
  return { metadata, holding: scanned.filter((s) => s.fields.length > 0) };
}

/**
 * A KV v2 secret (CLI form) as it is now: the live versions holding the value and whether the
 * current one does. What the destroy step re-checks before it destroys anything.
 */
export async function scanHolder(
  vault: VaultClient,
  path: string,
  value: string,
): Promise<
  | {
      mount: string;
      relative: string;
      versions: number[];
      current: boolean;
      current_version: number;
      destroyed: number[];
    }
  | undefined
> {
  const mount = await vault.mountOf(path);
  if (mount.kvVersion !== 2) return undefined;
  const scan = await scanVersions(vault, mount.mount, mount.relative, value);
  if (!scan) return undefined;
  return {
    mount: mount.mount,
    relative: mount.relative,
    versions: scan.holding.map((h) => h.version).sort((a, b) => a - b),
    current: scan.holding.some((h) => h.version === scan.metadata.current_version),
    current_version: scan.metadata.current_version,
    destroyed: Object.entries(scan.metadata.versions)
      .filter(([, v]) => v.destroyed)
      .map(([n]) => Number(n)),
  };
}

async function findHolder(deps: LeakFactsDeps, apiPath: string, value: string): Promise<Holder | undefined> {
  const { vault, config } = deps;
  const mount = await vault.mountOf(apiPath);
  if (mount.kvVersion !== 2 || !mount.relative.startsWith('data/')) return undefined;
  const relative = mount.relative.slice('data/'.length);
  const scan = await scanVersions(vault, mount.mount, relative, value);
  if (!scan) return undefined;
  const { metadata, holding } = scan;
  if (holding.length === 0) return undefined;
  const path = `${mount.mount}/${relative}`;
  const tenant = new PathTemplateMatcher(config.tenancy.paths).match(apiPath)?.tenant;
  const rotation = config.rotation.secrets.find(
    (s) => new PathTemplateMatcher([mustParsePathTemplate(s.path)]).match(path)?.complete,
  );
  const notRotatable = !rotation
    ? 'no rotation.secrets template matches it'
    : !tenant
      ? 'it belongs to no tenant (tenancy.paths)'
      : config.tenancy.exclude.has(tenant)
        ? `tenant ${tenant} is excluded from rotation (tenancy.exclude)`
        : undefined;
  return {
    path,
    api_path: apiPath,
    mount: mount.mount,
    versions: holding.map((h) => h.version).sort((a, b) => a - b),
    current_version: metadata.current_version,
    current: holding.some((h) => h.version === metadata.current_version),
    fields: [...new Set(holding.flatMap((h) => h.fields))].sort(),
    ...(tenant ? { tenant } : {}),
    ...(rotation ? { kind: rotation.kind } : {}),
    ...(notRotatable ? { not_rotatable: notRotatable } : {}),
  };
}

/** For every unexpected reader: which of its policies (root aside: it cannot be edited) let it read the path. */
async function findGrants(
  vault: VaultClient,
  readers: readonly Reader[],
  unchecked: UncheckedFact[],
): Promise<PolicyGrant[]> {
  const unexpected = readers.filter((r) => !r.expected);
  const names = [...new Set(unexpected.flatMap((r) => r.policies))].filter((p) => p !== 'root');
  const texts = new Map(
    await Promise.all(
      names.map(async (name) => {
        // A text that does not parse is a fact of its own (the error names the policy, line and column).
        const read = await orUnchecked(
          vault
            .readPolicy(name)
            .then(async (text) =>
              text === undefined ? undefined : { text, policy: await parsePolicy(name, text) },
            ),
          unchecked,
          `which rules of policy ${name} let its tokens read the leaked value`,
          { capability: 'read', path: `sys/policies/acl/${name}` },
        );
        return [name, read] as const;
      }),
    ),
  );
  const grants = new Map<string, PolicyGrant>();
  for (const reader of unexpected)
    for (const policy of reader.policies) {
      const read = texts.get(policy);
      if (read === undefined) continue;
      const { text } = read;
      for (const { path, operation } of reader.reads) {
        const rule = decidingRule(read.policy, path);
        if (!grantsCapability(rule, operation)) continue;
        const key = `${policy}\0${path}`;
        const grant = grants.get(key) ?? { policy, path, rule: rule!, text, readers: [] };
        if (reader.accessor && !grant.readers.includes(reader.accessor)) grant.readers.push(reader.accessor);
        grants.set(key, grant);
      }
    }
  return [...grants.values()].sort(
    (a, b) => a.policy.localeCompare(b.policy) || a.path.localeCompare(b.path),
  );
}

/**
 * Paths outside KV that handed the value out issued it under a lease (a PKI certificate's key, a
 * database password): every lease of that path lives under it as a prefix, counted now.
 */
async function findLeasePrefixes(
  vault: VaultClient,
  paths: readonly string[],
  unchecked: UncheckedFact[],
): Promise<LeasePrefix[]> {
  const found = await Promise.all(
    paths.map(async (path): Promise<LeasePrefix | undefined> => {
      try {
        const mount = await vault.mountOf(path);
        if (mount.type === 'kv' || mount.type === 'system' || mount.type === 'cubbyhole') return undefined;
        const leases = await vault.leaseList(`${path}/`);
        return { prefix: path, mount_type: mount.type, leases: leases.length };
      } catch (error) {
        unchecked.push(
          uncheckedFact(`whether ${path} issued the leaked value under a lease that is still live`, error, {
            capability: 'read',
            path,
          }),
        );
        return undefined;
      }
    }),
  );
  return found.filter((l): l is LeasePrefix => l !== undefined);
}
