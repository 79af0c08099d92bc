import { z } from 'zod';
import type { PostureContext } from './check.js';

const tuneSchema = z.looseObject({ max_lease_ttl: z.number() });

/** A token-issuing role's or user's lifetime settings, in seconds (0 = not set). */
export interface LifetimeSettings {
  token_ttl?: number;
  token_max_ttl?: number;
  token_explicit_max_ttl?: number;
  token_period?: number;
}

export interface Lifetime {
  /** The longest a token issued under these settings can live; 0 = as long as it is renewed (periodic). */
  seconds: number;
  /** Whether the limit was set on the role or user (else it comes from the mount's max lease TTL). */
  explicit: boolean;
}

/**
 * How long a token issued by a role or user can live: the smallest of its explicit max TTL, its max
 * TTL and the mount's max lease TTL (the server caps each by the next); a period without an explicit
 * max makes a token renewable forever (0).
 */
export function tokenLifetime(settings: LifetimeSettings, mountMaxSeconds: number): Lifetime {
  const explicitMax = settings.token_explicit_max_ttl ?? 0;
  if ((settings.token_period ?? 0) > 0 && explicitMax === 0) return { seconds: 0, explicit: true };
  const own = [explicitMax, settings.token_max_ttl ?? 0].filter((s) => s > 0);
  const seconds = Math.min(...own, mountMaxSeconds);
  return { seconds, explicit: own.length > 0 };
}

const cache = new WeakMap<PostureContext, Map<string, Promise<number>>>();

/** The max lease TTL of an auth mount (`sys/auth/<mount>/tune`, the system's when unset), once per run. */
export function authMountMaxTtl(ctx: PostureContext, mount: string): Promise<number> {
  let perRun = cache.get(ctx);
  if (!perRun) cache.set(ctx, (perRun = new Map<string, Promise<number>>()));
  const key = mount.replace(/\/$/, '');
  let pending = perRun.get(key);
  if (!pending) {
    pending = ctx.vault.read(`sys/auth/${key}/tune`).then((r) => tuneSchema.parse(r.data).max_lease_ttl);
    perRun.set(key, pending);
  }
  return pending;
}
