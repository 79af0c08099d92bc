import { PathTemplateMatcher, type PathTemplate } from '../config/path-template.js';

export interface SecretPath {
  /** A read of this path hands out secret material (a KV value, generated credentials, …). */
  secret: boolean;
  /** The tenant by the configured templates, excluded ones included. */
  tenant: string | null;
  /** The tenant is in tenancy.exclude (a test tenant): never counted as affected. */
  excluded: boolean;
}

/** Paths whose reads return configuration or identity, not secrets. */
const NON_SECRET_PREFIXES = ['sys/', 'auth/', 'identity/'];

/**
 * Decides, at assessment time and from the configuration in force now, whether a read path is a
 * secret and whose it is: a template fixed after ingestion applies to events already stored.
 */
export class SecretPathClassifier {
  private readonly matcher: PathTemplateMatcher;
  private last:
    { path: string; mount_type: string | null; mount_point: string | null; result: SecretPath } | undefined;
  /** Per path, the answers for the mounts it was seen under (almost always one). */
  private readonly cache = new Map<
    string,
    { mount_type: string | null; mount_point: string | null; result: SecretPath }[]
  >();

  constructor(
    templates: readonly PathTemplate[],
    private readonly exclude: ReadonlySet<string>,
  ) {
    this.matcher = new PathTemplateMatcher(templates);
  }

  /** Whether a tenant is in tenancy.exclude (a test tenant, never counted). */
  isExcluded(tenant: string): boolean {
    return this.exclude.has(tenant);
  }

  classify(path: string, mount: { mount_point: string | null; mount_type: string | null }): SecretPath {
    // Reads arrive ordered by path: most calls ask about the path of the call before.
    const last = this.last;
    if (
      last !== undefined &&
      last.path === path &&
      last.mount_type === mount.mount_type &&
      last.mount_point === mount.mount_point
    )
      return last.result;
    // Keyed by the path alone: a key built per call (mount + path) cost more than the matching it
    // saved when an assessment classifies a few hundred thousand (accessor, path) pairs.
    let seen = this.cache.get(path);
    if (!seen) this.cache.set(path, (seen = []));
    for (const entry of seen)
      if (entry.mount_type === mount.mount_type && entry.mount_point === mount.mount_point) {
        this.last = { path, ...entry };
        return entry.result;
      }
    const result = this.compute(path, mount);
    seen.push({ mount_type: mount.mount_type, mount_point: mount.mount_point, result });
    this.last = { path, mount_type: mount.mount_type, mount_point: mount.mount_point, result };
    return result;
  }

  private compute(
    path: string,
    mount: { mount_point: string | null; mount_type: string | null },
  ): SecretPath {
    const notSecret: SecretPath = { secret: false, tenant: null, excluded: false };
    if (NON_SECRET_PREFIXES.some((p) => path.startsWith(p))) return notSecret;
    const match = this.matcher.match(path);
    if (match) {
      // KV v2 metadata/, delete/, … reveal no value; a path stopping short of the template is no secret.
      const revealsValue = match.complete && (match.infix === undefined || match.infix === 'data');
      if (!revealsValue) return notSecret;
      return { secret: true, tenant: match.tenant, excluded: this.exclude.has(match.tenant) };
    }
    if (mount.mount_type === 'kv' && mount.mount_point && path.startsWith(`${mount.mount_point}metadata/`))
      return notSecret;
    return { secret: true, tenant: null, excluded: false };
  }
}
