import { z } from 'zod';
import { humanTtl } from '../refusal.js';
import { evidenceString, mountName, type FixDeps, type PostureFixer } from './fix.js';
import type { PostureFinding } from '../check.js';

const tuneSchema = z.looseObject({ default_lease_ttl: z.number(), max_lease_ttl: z.number() });

/**
 * An auth mount whose default or max lease TTL is above `posture.max_mount_ttl`
 * (token-ttl:mount:<path>:<key>) is tuned down to that maximum. The other TTL comes down with it
 * when it would exceed the new value: OpenBao refuses a max below the default ("backend max lease
 * TTL of … would be less than backend default lease TTL"), and reports an unset default as the
 * system's 768h even under a lower mount max.
 */
export const mountTtlFix: PostureFixer = {
  name: 'tune-auth-mount-ttl',
  title: "tune the auth mount's lease TTLs down to posture.max_mount_ttl",
  handles: (finding) => /^token-ttl:mount:.+:(default|max)_lease_ttl$/.test(finding.id),
  async plan(finding, deps) {
    const { mount, tune, write } = await tuning(finding, deps);
    return [
      {
        action: `tune auth mount ${mount}/: ${Object.entries(write)
          .map(([k, v]) => `${k} ${humanTtl(tune[k as keyof typeof tune])} → ${humanTtl(v)}`)
          .join(', ')} (sys/auth/${mount}/tune)`,
        details: { mount: `${mount}/`, before: tune, after: write },
        destructive: true,
      },
    ];
  },
  async apply(finding, deps) {
    const { mount, tune, write } = await tuning(finding, deps);
    if (Object.keys(write).length > 0) await deps.vault.write(`sys/auth/${mount}/tune`, write);
    return { evidence: { mount: `${mount}/`, before: tune, written: write } };
  },
};

async function tuning(finding: PostureFinding, deps: FixDeps) {
  const mount = mountName(evidenceString(finding, 'mount'));
  const max = deps.config.posture.maxMountTtlSeconds;
  const tune = tuneSchema.parse((await deps.vault.read(`sys/auth/${mount}/tune`)).data);
  const key = finding.id.endsWith(':max_lease_ttl') ? 'max_lease_ttl' : 'default_lease_ttl';
  const write: Record<string, number> = {};
  if (key === 'max_lease_ttl') {
    if (tune.max_lease_ttl > max) write['max_lease_ttl'] = max;
    if (tune.default_lease_ttl > max) write['default_lease_ttl'] = max;
  } else if (tune.default_lease_ttl > max) write['default_lease_ttl'] = Math.min(max, tune.max_lease_ttl);
  return {
    mount,
    tune: { default_lease_ttl: tune.default_lease_ttl, max_lease_ttl: tune.max_lease_ttl },
    write,
  };
}
