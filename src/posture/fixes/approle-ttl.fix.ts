import { z } from 'zod';
import type { PostureFinding } from '../check.js';
import { humanTtl } from '../refusal.js';
import { evidenceString, refuseOrContinue, type FixDeps, type PostureFixer } from './fix.js';

const roleSchema = z.looseObject({
  secret_id_ttl: z.number().default(0),
  secret_id_num_uses: z.number().default(0),
  token_ttl: z.number().default(0),
  token_max_ttl: z.number().default(0),
  secret_id_bound_cidrs: z.array(z.string()).nullable().default([]),
  token_bound_cidrs: z.array(z.string()).nullable().default([]),
});

/** What the fix can set without knowing the application: lifetimes, capped at posture.max_token_ttl. */
const SETTABLE = new Set(['secret_id_ttl', 'token_ttl']);

/**
 * An AppRole role without lifetimes (auth-unused:approle-limits:<mount>/<role>) gets them: a
 * `secret_id_ttl` and `token_ttl` of `posture.max_token_ttl`, and a `token_max_ttl` no longer than
 * that. How often a secret ID may be used and from which networks depend on how the application
 * logs in: a role missing those is refused with the command to run by hand, since setting lifetimes
 * alone would leave the finding standing.
 */
export const appRoleTtlFix: PostureFixer = {
  name: 'set-approle-role-ttls',
  title: "set the AppRole role's secret ID and token TTLs to posture.max_token_ttl",
  handles: (finding) => finding.id.startsWith('auth-unused:approle-limits:'),
  async refuse(finding, deps) {
    const { missing } = await roleState(finding, deps);
    const manual = missing.filter((m) => !SETTABLE.has(m));
    if (manual.length > 0)
      return `${manual.join(' and ')} depend on how the application logs in and only the operator knows them: ${finding.fix}`;
    return undefined;
  },
  async plan(finding, deps) {
    const { role, write, current } = await roleState(finding, deps);
    return [
      {
        action: `set ${Object.entries(write)
          .map(([k, v]) => `${k}=${humanTtl(v)}`)
          .join(' ')} on AppRole role ${role} (other settings kept)`,
        details: { role, before: current, after: write },
        destructive: true,
      },
    ];
  },
  async apply(finding, deps) {
    await refuseOrContinue(this, finding, deps);
    const { role, write, current } = await roleState(finding, deps);
    // An AppRole role write updates the fields it names and keeps the others.
    if (Object.keys(write).length > 0) await deps.vault.write(role, write);
    return { evidence: { role, before: current, written: write } };
  },
};

async function roleState(finding: PostureFinding, deps: FixDeps) {
  const role = evidenceString(finding, 'role');
  const config = roleSchema.parse((await deps.vault.read(role)).data);
  const max = deps.config.posture.maxTokenTtlSeconds;
  const missing = [
    ...(config.secret_id_ttl === 0 ? ['secret_id_ttl'] : []),
    ...(config.secret_id_num_uses === 0 ? ['secret_id_num_uses'] : []),
    ...(config.token_ttl === 0 ? ['token_ttl'] : []),
    ...(!config.secret_id_bound_cidrs?.length && !config.token_bound_cidrs?.length ? ['bound_cidrs'] : []),
  ];
  const write: Record<string, number> = {};
  if (config.secret_id_ttl === 0 || config.secret_id_ttl > max) write['secret_id_ttl'] = max;
  if (config.token_ttl === 0 || config.token_ttl > max) write['token_ttl'] = max;
  if (config.token_max_ttl === 0 || config.token_max_ttl > max) write['token_max_ttl'] = max;
  const current = {
    secret_id_ttl: config.secret_id_ttl,
    token_ttl: config.token_ttl,
    token_max_ttl: config.token_max_ttl,
  };
  return { role, missing, write, current };
}
