import { PathTemplateMatcher, type PathTemplate } from '../tenants/path-template.js';

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
  private readonly cache = new Map<string, SecretPath>();

  constructor(
    templates: readonly PathTemplate[],
    private readonly exclude: ReadonlySet<string>,
  ) {
    this.matcher = new PathTemplateMatcher(templates);
  }

  classify(path: string, mount: { mount_point: string | null; mount_type: string | null }): SecretPath {
    const key = `${mount.mount_type ?? ''}\u0000${mount.mount_point ?? ''}\u0000${path}`;
    let result = this.cache.get(key);
    if (!result) {
      result = this.compute(path, mount);
      this.cache.set(key, result);
    }
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
