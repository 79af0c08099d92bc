import type { VaultClient } from '../vault/client.js';
import type { PathTemplate } from '../config/path-template.js';

export interface SecretTemplate<K extends string = string> {
  kind: K;
  template: PathTemplate;
}

export interface LocatedSecret<K extends string = string> {
  tenant: string;
  kind: K;
  /** CLI form, e.g. `secret/tenants/acme/smtp`. */
  path: string;
}

export interface LocateResult<K extends string = string> {
  found: LocatedSecret<K>[];
  /** A tenant for which a template matched no secret. */
  missing: { tenant: string; kind: K; template: string }[];
}

type Lister = Pick<VaultClient, 'mountOf' | 'list'>;

/**
 * Finds each tenant's secrets from path templates, by listing KV v2 metadata: `{tenant}` is filled
 * in, and any other placeholder (`{key_id}`) enumerates what is there. A listing is made once per
 * folder and shared, so a tenant with five secrets in one folder costs one request.
 */
export async function locateSecrets<K extends string>(
  vault: Lister,
  tenants: readonly string[],
  templates: readonly SecretTemplate<K>[],
  options: { concurrency?: number } = {},
): Promise<LocateResult<K>> {
  const mounts = new Map<string, Promise<{ mount: string }>>();
  const listings = new Map<string, Promise<string[]>>();
  const list = (mount: string, folder: string) => {
    const key = `${mount}/metadata/${folder}`;
    let listing = listings.get(key);
    if (!listing) {
      listing = vault.list(key);
      listings.set(key, listing);
    }
    return listing;
  };
  const mountOf = (prefix: string) => {
    let found = mounts.get(prefix);
    if (!found) {
      found = vault.mountOf(prefix);
      mounts.set(prefix, found);
    }
    return found;
  };

  const result: LocateResult<K> = { found: [], missing: [] };
  const jobs = tenants.flatMap((tenant) => templates.map((t) => ({ tenant, ...t })));
  const limit = options.concurrency ?? 16;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const literalPrefix = job.template.segments.findIndex((s) => s.kind === 'var');
      const prefix = job.template.segments
        .slice(0, literalPrefix)
        .map((s) => (s.kind === 'literal' ? s.value : ''))
        .join('/');
      const { mount } = await mountOf(prefix);
      const mountDepth = mount.split('/').length;
      const relative = job.template.segments.slice(mountDepth);
      const paths = await expand(relative, 0, [], (folder) => list(mount, folder), job.tenant);
      if (paths.length === 0)
        result.missing.push({ tenant: job.tenant, kind: job.kind, template: job.template.source });
      for (const path of paths)
        result.found.push({ tenant: job.tenant, kind: job.kind, path: `${mount}/${path}` });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  result.found.sort((a, b) =>
    a.tenant === b.tenant ? a.path.localeCompare(b.path) : a.tenant.localeCompare(b.tenant),
  );
  return result;
}

/** Walks the template below the mount: literals and {tenant} are fixed, other placeholders are listed. */
async function expand(
  segments: PathTemplate['segments'],
  index: number,
  done: string[],
  list: (folder: string) => Promise<string[]>,
  tenant: string,
): Promise<string[]> {
  const segment = segments[index];
  if (!segment) return [done.join('/')];
  const isLast = index === segments.length - 1;
  const folder = done.join('/');
  const entries = await list(folder);
  const wanted = (name: string) => (isLast ? entries.includes(name) : entries.includes(`${name}/`));
  if (segment.kind === 'literal' || segment.name === 'tenant') {
    const name = segment.kind === 'literal' ? segment.value : tenant;
    return wanted(name) ? expand(segments, index + 1, [...done, name], list, tenant) : [];
  }
  const names = entries
    .filter((e) => (isLast ? !e.endsWith('/') : e.endsWith('/')))
    .map((e) => e.replace(/\/$/, ''));
  const nested = await Promise.all(
    names.map((name) => expand(segments, index + 1, [...done, name], list, tenant)),
  );
  return nested.flat();
}
