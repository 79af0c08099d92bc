import type {
  AnalysisWindow,
  AuditAnalysisRepository,
  PathReads,
  TenantFirstRead,
} from '../store/repositories/audit-analysis.repository.js';
import type { SecretPathClassifier } from './secret-paths.js';

export type { TenantFirstRead };

/** Successful secret reads of one path in the window (by the actors asked about). */
export interface SecretReadCount {
  path: string;
  reads: number;
  tenant: string | null;
}

/** One accessor's successful reads of secrets in the window. */
export interface AccessorSecretReads {
  reads: number;
  /** Tenants whose secrets it read, excluded (test) tenants included: callers tell them apart. */
  tenants: ReadonlySet<string>;
}

/**
 * The successful secret reads of a window, classified with the templates configured now: what the
 * many-tenants rule and the affected-tenant count read.
 */
export interface SecretReads {
  /** Every accessor that read a secret in the window. */
  readonly byAccessor: ReadonlyMap<string, AccessorSecretReads>;
  /** The earliest read of each tenant whose secret the accessor read (excluded ones included). */
  firstReads(accessor: string): Promise<TenantFirstRead[]>;
  /** The secret paths these accessors read, with their read counts, sorted by path. */
  pathsReadBy(accessors: ReadonlySet<string>): Promise<SecretReadCount[]>;
}

export type SecretReadsReader = Pick<
  AuditAnalysisRepository,
  'readPaths' | 'readsByStoredTenant' | 'firstReadsByStoredTenant' | 'readsOfPathsBy' | 'readsByAccessor'
>;

/**
 * Loads the window's secret reads. A day of a busy cluster has hundreds of thousands of (token,
 * path) pairs, so the reads are counted in the database by the tenant stored with each event, and
 * only the distinct paths are classified here. That is exact only while the templates configured
 * now give every secret path the tenant it was stored with: if one does not (the templates changed
 * after ingestion), every (token, path) pair is classified here instead.
 */
export async function loadSecretReads(
  reader: SecretReadsReader,
  window: AnalysisWindow,
  secrets: SecretPathClassifier,
): Promise<SecretReads> {
  const paths = await reader.readPaths(window);
  const tenantOfPath = new Map<string, string | null>();
  const skip: string[] = [];
  for (const read of paths) {
    const secret = secrets.classify(read.path, read);
    if (!secret.secret) skip.push(read.path);
    else if (!read.tenants_agree || read.tenant !== secret.tenant)
      return secretReadsFromPairs(await reader.readsByAccessor(window), secrets);
    else tenantOfPath.set(read.path, secret.tenant);
  }
  const byAccessor = new Map<string, AccessorSecretReads>();
  for (const row of await reader.readsByStoredTenant(window, skip))
    byAccessor.set(row.accessor, { reads: row.reads, tenants: new Set(row.tenants) });
  return {
    byAccessor,
    firstReads: (accessor) => reader.firstReadsByStoredTenant(window, accessor, skip),
    pathsReadBy: async (accessors) => {
      // Every token that read a secret asked about (a day on which every application token was
      // refused once): the per-path counts are the tokens' reads already counted.
      const everyReader = [...byAccessor.keys()].every((a) => accessors.has(a));
      const rows = everyReader
        ? paths.map((p) => ({ path: p.path, reads: p.reads_by_tokens })).filter((r) => r.reads > 0)
        : await reader.readsOfPathsBy(window, [...accessors]);
      return sortByPath(
        rows.flatMap((r) => {
          const tenant = tenantOfPath.get(r.path);
          return tenant === undefined ? [] : [{ path: r.path, reads: r.reads, tenant }];
        }),
      );
    },
  };
}

/** The same from (token, path) pairs, each classified here: whatever the stored tenants say. */
export function secretReadsFromPairs(
  pairs: readonly PathReads[],
  secrets: SecretPathClassifier,
): SecretReads {
  const byAccessor = new Map<string, { reads: number; tenants: Set<string> }>();
  const firsts = new Map<string, Map<string, TenantFirstRead>>();
  const classified: { pair: PathReads; tenant: string | null }[] = [];
  for (const pair of pairs) {
    const secret = secrets.classify(pair.path, pair);
    if (!secret.secret) continue;
    classified.push({ pair, tenant: secret.tenant });
    let own = byAccessor.get(pair.accessor);
    if (!own) byAccessor.set(pair.accessor, (own = { reads: 0, tenants: new Set() }));
    own.reads += pair.reads;
    if (secret.tenant === null) continue;
    own.tenants.add(secret.tenant);
    let tenants = firsts.get(pair.accessor);
    if (!tenants) firsts.set(pair.accessor, (tenants = new Map<string, TenantFirstRead>()));
    const earlier = tenants.get(secret.tenant);
    if (!earlier || pair.first_read < earlier.first_read)
      tenants.set(secret.tenant, { tenant: secret.tenant, path: pair.path, first_read: pair.first_read });
  }
  return {
    byAccessor,
    firstReads: async (accessor) => [...(firsts.get(accessor)?.values() ?? [])],
    pathsReadBy: async (accessors) => {
      const byPath = new Map<string, SecretReadCount>();
      for (const { pair, tenant } of classified) {
        if (!accessors.has(pair.accessor)) continue;
        const entry = byPath.get(pair.path) ?? { path: pair.path, reads: 0, tenant };
        entry.reads += pair.reads;
        byPath.set(pair.path, entry);
      }
      return sortByPath([...byPath.values()]);
    },
  };
}

/** One collator for the whole sort: String#localeCompare (the same order) builds one per call. */
const collator = new Intl.Collator();
const sortByPath = (rows: SecretReadCount[]) => rows.sort((a, b) => collator.compare(a.path, b.path));
