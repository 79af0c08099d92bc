import type { PostureContext } from '../check.js';
import type { MountInfo } from '../../vault/types.js';
import type { PathRule } from '../../policy/policy.js';

/** Secret engines every server has and nobody disables: the system, identity and per-token cubbyhole. */
const BUILT_IN_TYPES = new Set(['system', 'identity', 'cubbyhole']);

const cache = new WeakMap<PostureContext, Promise<Record<string, MountInfo>>>();

/** The secret engines (`sys/mounts`) an operator enabled, read once per run. */
export function secretEngines(ctx: PostureContext): Promise<Record<string, MountInfo>> {
  let pending = cache.get(ctx);
  if (!pending) {
    pending = ctx.vault
      .listMounts()
      .then((all) => Object.fromEntries(Object.entries(all).filter(([, m]) => !BUILT_IN_TYPES.has(m.type))));
    cache.set(ctx, pending);
  }
  return pending;
}

/**
 * Whether a rule can match some path inside the mount `mount` (`kv/`, `team/kv/`): its segments
 * agree with the mount's as far as both go (`+` and identity templates match any segment, a
 * trailing `*` any continuation), and it reaches at least into the mount.
 */
export function ruleReachesMount(rule: Pick<PathRule, 'path'>, mount: string): boolean {
  const ruleSegments = rule.path.split('/');
  const mountSegments = mount.replace(/\/$/, '').split('/');
  for (let i = 0; i < mountSegments.length; i++) {
    const r = ruleSegments[i];
    if (r === undefined) return false;
    const last = i === ruleSegments.length - 1;
    if (last && r.endsWith('*')) return mountSegments[i]!.startsWith(wildcardless(r.slice(0, -1)));
    if (r === '+' || r.includes('{{')) continue;
    if (r !== mountSegments[i]) return false;
  }
  // Every mount segment matched: the rule names the mount itself or a path inside it.
  return ruleSegments.length > mountSegments.length || rule.path.endsWith('*');
}

/** A `+` before the trailing `*` in one segment is not a thing; templates are treated as any text. */
const wildcardless = (prefix: string) => (prefix.includes('{{') ? '' : prefix);
