import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { refusal } from '../refusal.js';
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
 * The secret engines for a check, or, when the server refuses `sys/mounts`, the one finding that
 * says the check could not read them (any other error is thrown, as `refusal` does).
 */
export async function secretEnginesOrRefusal(
  ctx: PostureContext,
  check: Pick<PostureCheck, 'id' | 'area'>,
): Promise<{ mounts: Record<string, MountInfo> } | { refused: PostureFinding }> {
  try {
    return { mounts: await secretEngines(ctx) };
  } catch (error) {
    return {
      refused: refusal(check, 'the secret engines', { capability: 'read', path: 'sys/mounts' }, error),
    };
  }
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
    const glob = i === ruleSegments.length - 1 && r.endsWith('*');
    if (!segmentPattern(glob ? r.slice(0, -1) : r, glob).test(mountSegments[i]!)) return false;
    // A trailing `*` continues past this segment, across the rest of the mount path.
    if (glob) return true;
  }
  // Every mount segment matched: the rule names the mount itself or a path inside it.
  return ruleSegments.length > mountSegments.length;
}

/** One rule segment as a pattern: `+` is any segment, an identity template any text, `prefix` a glob. */
function segmentPattern(segment: string, prefix: boolean): RegExp {
  if (segment === '+' && !prefix) return /^[^/]*$/;
  const source = segment
    .split(/\{\{[^}]*\}\}/)
    .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}${prefix ? '' : '$'}`);
}
