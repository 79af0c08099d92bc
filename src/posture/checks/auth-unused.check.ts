import { z } from 'zod';
import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { refusal } from '../refusal.js';
import { authMountsOrRefusal } from './auth-mounts.js';
import { toSortableUtc } from '../../util/time.js';
import type { MountInfo } from '../../vault/types.js';

const check = { id: 'auth-unused', area: 'auth' } as const;
const raised = { check: check.id, area: check.area } as const;

/** Auth methods nobody logs in through are attack surface without a user. */
const LOGINLESS_TYPES = new Set(['token']);

const appRoleSchema = z.looseObject({
  secret_id_ttl: z.number().default(0),
  secret_id_num_uses: z.number().default(0),
  token_ttl: z.number().default(0),
  secret_id_bound_cidrs: z.array(z.string()).nullable().default([]),
  token_bound_cidrs: z.array(z.string()).nullable().default([]),
});

/**
 * Auth methods enabled but with no successful login in the audit window, and AppRole roles whose
 * secret IDs and tokens have no lifetime, use or network limit.
 */
export const authUnusedCheck: PostureCheck = {
  ...check,
  title: 'unused auth methods and AppRole roles without limits',
  async run(ctx) {
    const read = await authMountsOrRefusal(ctx, check);
    if ('refused' in read) return [read.refused];
    const { mounts } = read;
    const [unused, roles] = await Promise.all([unusedFindings(ctx, mounts), appRoleFindings(ctx, mounts)]);
    return [...unused, ...roles];
  },
};

async function unusedFindings(
  ctx: PostureContext,
  mounts: Record<string, MountInfo>,
): Promise<PostureFinding[]> {
  const since = toSortableUtc(ctx.since.toISOString())!;
  const until = toSortableUtc(ctx.now.toISOString())!;
  const stored = await ctx.store.auditAnalysis.countEvents({ since, until });
  const candidates = Object.keys(mounts)
    .filter((path) => !LOGINLESS_TYPES.has(mounts[path]!.type))
    .sort();
  if (candidates.length === 0) return [];
  if (stored === 0)
    // No event in the window proves nothing about logins: say so instead of calling every mount unused.
    return [
      {
        id: 'auth-unused:no-audit-events',
        ...raised,
        severity: 'medium',
        title: `could not tell which auth methods are used: no audit event stored since ${ctx.since.toISOString()}`,
        evidence: { since: ctx.since.toISOString(), mounts: candidates },
        why: 'logins are counted from the audit store; with no event in the window every method would look unused',
        fix: 'sealwatch audit follow /var/log/openbao/audit.log  # then run posture again',
      },
    ];
  const logins = await ctx.store.auditLogins.succeeded(ctx.since.toISOString());
  const used = new Map<string, number>();
  for (const l of logins)
    if (l.mount_point) used.set(l.mount_point, (used.get(l.mount_point) ?? 0) + l.count);
  return candidates
    .filter((path) => !used.has(`auth/${path}`) && !used.has(path))
    .map((path) => ({
      id: `auth-unused:mount:${path}`,
      ...raised,
      severity: 'low',
      title: `auth method ${path} (${mounts[path]!.type}) had no successful login since ${ctx.since.toISOString()}`,
      evidence: {
        mount: path,
        type: mounts[path]!.type,
        since: ctx.since.toISOString(),
        events_in_window: stored,
      },
      why: 'an auth method nobody uses is a way in that nobody watches; its credentials are rarely rotated',
      fix: `export its configuration first (disabling deletes every role), then: bao auth disable ${path}`,
    }));
}

async function appRoleFindings(
  ctx: PostureContext,
  mounts: Record<string, MountInfo>,
): Promise<PostureFinding[]> {
  const findings: PostureFinding[] = [];
  for (const path of Object.keys(mounts).sort()) {
    if (mounts[path]!.type !== 'approle') continue;
    const mount = path.replace(/\/$/, '');
    let roles: string[];
    try {
      roles = await ctx.vault.list(`auth/${mount}/role`);
    } catch (error) {
      findings.push(
        refusal(check, `the roles of ${path}`, { capability: 'list', path: `auth/${mount}/role` }, error),
      );
      continue;
    }
    for (const role of roles) {
      const rolePath = `auth/${mount}/role/${role}`;
      let config;
      try {
        config = appRoleSchema.parse((await ctx.vault.read(rolePath)).data);
      } catch (error) {
        findings.push(
          refusal(check, `AppRole role ${rolePath}`, { capability: 'read', path: rolePath }, error),
        );
        continue;
      }
      const missing = [
        ...(config.secret_id_ttl === 0 ? ['secret_id_ttl'] : []),
        ...(config.secret_id_num_uses === 0 ? ['secret_id_num_uses'] : []),
        ...(config.token_ttl === 0 ? ['token_ttl'] : []),
        ...(!config.secret_id_bound_cidrs?.length && !config.token_bound_cidrs?.length
          ? ['bound_cidrs']
          : []),
      ];
      if (missing.length === 0) continue;
      findings.push({
        id: `auth-unused:approle-limits:${mount}/${role}`,
        ...raised,
        severity: missing.length >= 3 ? 'medium' : 'low',
        title: `AppRole role ${role} on ${path} has no ${missing.join(', ')}`,
        evidence: {
          role: rolePath,
          missing,
          secret_id_ttl: config.secret_id_ttl,
          secret_id_num_uses: config.secret_id_num_uses,
          token_ttl: config.token_ttl,
        },
        why: 'a secret ID without lifetime, use count or network binding works from anywhere, forever, as often as a thief likes',
        fix: `bao write ${rolePath} secret_id_ttl=24h secret_id_num_uses=1 token_ttl=1h secret_id_bound_cidrs=10.0.0.0/8`,
      });
    }
  }
  return findings;
}
