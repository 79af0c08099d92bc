import { z } from 'zod';
import type { PostureCheck, PostureContext, PostureFinding } from './check.js';
import { refusal } from './refusal.js';

export const SANITIZED_CONFIG_PATH = 'sys/config/state/sanitized';

/** The parts of `sys/config/state/sanitized` posture reads; the rest of the answer is ignored. */
const sanitizedConfigSchema = z.looseObject({
  /** Seconds; 0 means OpenBao's built-in default (768h). */
  default_lease_ttl: z.number().default(0),
  max_lease_ttl: z.number().default(0),
  unsafe_allow_api_audit_creation: z.boolean().default(false),
  audits: z
    .array(z.looseObject({ path: z.string(), type: z.string() }))
    .nullable()
    .default([]),
  /** Each configured seal's type and whether it is the old one of a migration; never its settings. */
  seals: z
    .array(z.looseObject({ type: z.string(), disabled: z.boolean().default(false) }))
    .nullable()
    .default([]),
  listeners: z
    .array(
      z.looseObject({
        type: z.string(),
        config: z.record(z.string(), z.unknown()).nullable().default({}),
      }),
    )
    .nullable()
    .default([]),
});
export type SanitizedConfig = z.infer<typeof sanitizedConfigSchema>;

/** OpenBao's own default and max lease TTL when the configuration sets none (32 days). */
export const BUILTIN_LEASE_TTL_SECONDS = 768 * 3600;

const cache = new WeakMap<PostureContext, Promise<SanitizedConfig>>();

/**
 * The running configuration, read once per posture run and shared by the checks that need it
 * (audit, TLS, token TTLs). Needs `sudo` on the path; a refusal rejects every reader, each of which
 * reports it as its own could-not-read finding.
 */
export function sanitizedConfig(ctx: PostureContext): Promise<SanitizedConfig> {
  let pending = cache.get(ctx);
  if (!pending) {
    pending = ctx.vault.read(SANITIZED_CONFIG_PATH).then((res) => sanitizedConfigSchema.parse(res.data));
    cache.set(ctx, pending);
  }
  return pending;
}

/**
 * The running configuration for one check, or that check's could-not-read finding (sudo on
 * sys/config/state/sanitized) naming `what` it wanted from it.
 */
export async function sanitizedConfigFor(
  ctx: PostureContext,
  check: Pick<PostureCheck, 'id' | 'area'>,
  what: string,
): Promise<{ config: SanitizedConfig } | { refused: PostureFinding }> {
  try {
    return { config: await sanitizedConfig(ctx) };
  } catch (error) {
    return { refused: refusal(check, what, { capability: 'sudo', path: SANITIZED_CONFIG_PATH }, error) };
  }
}
