import pLimit from 'p-limit';
import type { VaultClient } from '../../vault/client.js';

/** How far a lease walk may go: every LIST is one request, and diagnose must answer in seconds. */
export interface LeaseWalkBounds {
  /** LIST requests at most (default 300). */
  maxLists?: number;
  /** LIST requests in flight (default 8). */
  concurrency?: number;
}

export interface LeaseCount {
  /** The prefix walked (`''` is every lease). */
  prefix: string;
  total: number;
  /** Leases by the directory that holds them (`auth/token/create/`), most first, with a few ids. */
  byPrefix: { prefix: string; leases: number; sample: string[] }[];
  /** False when the bound stopped the walk: `total` is then a lower bound. */
  complete: boolean;
  lists: number;
}

const norm = (prefix: string) => {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
};

/**
 * Counts the leases under a prefix by walking `sys/leases/lookup/<prefix>` (LIST), breadth first,
 * a bounded number of requests. Lease ids are the leaves; a key ending in `/` is a sub-prefix.
 */
export async function countLeases(
  vault: Pick<VaultClient, 'leaseList'>,
  prefix: string,
  bounds: LeaseWalkBounds = {},
): Promise<LeaseCount> {
  const maxLists = bounds.maxLists ?? 300;
  const limit = pLimit(bounds.concurrency ?? 8);
  const byPrefix = new Map<string, { leases: number; sample: string[] }>();
  let level = [norm(prefix)];
  let lists = 0;
  let complete = true;
  while (level.length > 0) {
    if (lists + level.length > maxLists) {
      complete = false;
      level = level.slice(0, Math.max(0, maxLists - lists));
      if (level.length === 0) break;
    }
    lists += level.length;
    const listed = await Promise.all(
      level.map((dir) => limit(async () => ({ dir, keys: await vault.leaseList(dir) }))),
    );
    const next: string[] = [];
    for (const { dir, keys } of listed) {
      const leaves = keys.filter((key) => !key.endsWith('/'));
      for (const key of keys) if (key.endsWith('/')) next.push(dir + key);
      if (leaves.length > 0)
        byPrefix.set(dir, { leases: leaves.length, sample: leaves.slice(0, 2).map((id) => dir + id) });
    }
    level = next;
  }
  const sorted = [...byPrefix]
    .map(([p, { leases, sample }]) => ({ prefix: p, leases, sample }))
    .sort((a, b) => b.leases - a.leases || a.prefix.localeCompare(b.prefix));
  return {
    prefix: norm(prefix),
    total: sorted.reduce((sum, p) => sum + p.leases, 0),
    byPrefix: sorted,
    complete,
    lists,
  };
}

/** The mount (from the mount tables' paths) that holds a lease prefix: the longest matching path. */
export function mountOfPrefix(prefix: string, mounts: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const mount of mounts)
    if (prefix.startsWith(mount) && mount.length > (best?.length ?? 0)) best = mount;
  return best;
}
