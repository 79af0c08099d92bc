import { z } from 'zod';
import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { humanTtl, refusal } from '../refusal.js';
import { authMountsOrRefusal } from './auth-mounts.js';
import { BUILTIN_LEASE_TTL_SECONDS, sanitizedConfigFor } from '../server-config.js';
import { inventoryRefusal, isRootToken, tokenInventory, type LiveToken } from '../token-inventory.js';

const check = { id: 'token-ttl', area: 'tokens' } as const;
const raised = { check: check.id, area: check.area } as const;

const tuneSchema = z.looseObject({ default_lease_ttl: z.number(), max_lease_ttl: z.number() });

/**
 * Tokens that live too long (no expiry, a TTL above `posture.max_token_ttl`), orphan and periodic
 * service tokens, and the default and max lease TTLs of the system and of every auth mount.
 */
export const tokenTtlCheck: PostureCheck = {
  ...check,
  title: 'token lifetimes and lease TTLs of the system and auth mounts',
  async run(ctx) {
    const [tokens, system, mounts] = await Promise.all([
      tokenFindings(ctx),
      systemFindings(ctx),
      mountFindings(ctx),
    ]);
    return [...tokens, ...system, ...mounts];
  },
};

async function tokenFindings(ctx: PostureContext): Promise<PostureFinding[]> {
  let tokens: LiveToken[];
  try {
    tokens = (await tokenInventory(ctx)).tokens;
  } catch (error) {
    return [inventoryRefusal(check, error)];
  }
  const max = ctx.config.posture.maxTokenTtlSeconds;
  const findings: PostureFinding[] = [];
  // Root tokens are root-tokens' finding; listing them here again would count one problem twice.
  for (const token of tokens.filter((t) => !isRootToken(t))) {
    const evidence = {
      accessor: token.accessor,
      display_name: token.display_name,
      policies: token.policies,
      path: token.path,
      creation_ttl: token.creation_ttl,
      expire_time: token.expire_time,
    };
    const period = token.period ?? 0;
    if (period > 0)
      findings.push({
        id: `token-ttl:periodic:${token.accessor}`,
        ...raised,
        severity: 'low',
        title: `periodic token ${token.accessor} (period ${humanTtl(period)}) lives as long as it is renewed`,
        evidence: { ...evidence, period },
        why: 'a periodic token has no maximum lifetime: a stolen one stays valid for as long as the thief keeps renewing it',
        fix: `bao token revoke -accessor ${token.accessor}  # then issue it from a role with token_explicit_max_ttl`,
      });
    else if (token.creation_ttl === 0 || token.expire_time === null)
      findings.push({
        id: `token-ttl:no-expiry:${token.accessor}`,
        ...raised,
        severity: 'high',
        title: `token ${token.accessor} never expires`,
        evidence,
        why: 'a token without expiry stays valid until someone remembers to revoke it; a leaked one is a permanent key',
        fix: `bao token revoke -accessor ${token.accessor}  # reissue with -ttl=${humanTtl(max)} or shorter`,
      });
    else if (token.creation_ttl > max)
      findings.push({
        id: `token-ttl:long-ttl:${token.accessor}`,
        ...raised,
        severity: 'medium',
        title: `token ${token.accessor} was created to live ${humanTtl(token.creation_ttl)}, above the ${humanTtl(max)} maximum`,
        evidence: { ...evidence, max_token_ttl: max },
        why: 'the longer a token lives, the longer a copy of it in a log, a shell history or a CI variable is a working credential',
        fix: `bao token revoke -accessor ${token.accessor}  # reissue with -ttl=${humanTtl(max)} or shorter`,
      });
    if (token.orphan && token.type === 'service' && token.path.startsWith('auth/token/create'))
      findings.push({
        id: `token-ttl:orphan:${token.accessor}`,
        ...raised,
        severity: 'low',
        title: `orphan service token ${token.accessor} survives the revocation of whoever created it`,
        evidence,
        why: 'revoking a parent revokes its children, but not an orphan: containment by revoking a compromised parent misses it',
        fix: `bao token revoke -accessor ${token.accessor}  # create child tokens (no -orphan) or use an auth method`,
      });
  }
  return findings;
}

async function systemFindings(ctx: PostureContext): Promise<PostureFinding[]> {
  const read = await sanitizedConfigFor(ctx, check, "the server's default and max lease TTL");
  if ('refused' in read) return [read.refused];
  const { config } = read;
  const max = ctx.config.posture.maxMountTtlSeconds;
  const effective = (seconds: number) => (seconds > 0 ? seconds : BUILTIN_LEASE_TTL_SECONDS);
  return (['default_lease_ttl', 'max_lease_ttl'] as const)
    .filter((key) => effective(config[key]) > max)
    .map((key) => ({
      id: `token-ttl:system:${key}`,
      ...raised,
      severity: 'medium',
      title: `the server's ${key} is ${humanTtl(effective(config[key]))}, above the ${humanTtl(max)} maximum`,
      evidence: { [key]: effective(config[key]), configured: config[key], max_mount_ttl: max },
      why: 'every token and lease without a shorter TTL of its own gets this one: it is the lifetime of whatever nobody thought about',
      fix: `${key} = "${humanTtl(max)}"  # in the server configuration, then restart or SIGHUP`,
    }));
}

async function mountFindings(ctx: PostureContext): Promise<PostureFinding[]> {
  const read = await authMountsOrRefusal(ctx, check);
  if ('refused' in read) return [read.refused];
  const { mounts } = read;
  const max = ctx.config.posture.maxMountTtlSeconds;
  const findings: PostureFinding[] = [];
  for (const path of Object.keys(mounts).sort()) {
    const tunePath = `sys/auth/${path.replace(/\/$/, '')}/tune`;
    let tune;
    try {
      tune = tuneSchema.parse((await ctx.vault.read(tunePath)).data);
    } catch (error) {
      findings.push(
        refusal(check, `the TTLs of auth mount ${path}`, { capability: 'read', path: tunePath }, error),
      );
      continue;
    }
    for (const key of ['default_lease_ttl', 'max_lease_ttl'] as const)
      if (tune[key] > max)
        findings.push({
          id: `token-ttl:mount:${path}:${key}`,
          ...raised,
          severity: 'medium',
          title: `auth mount ${path} issues tokens with ${key} ${humanTtl(tune[key])}, above the ${humanTtl(max)} maximum`,
          evidence: { mount: path, type: mounts[path]!.type, [key]: tune[key], max_mount_ttl: max },
          why: 'tokens from this mount live this long unless each role sets less; a shorter mount maximum caps every role at once',
          fix: `bao auth tune -${key.replace(/_/g, '-')}=${humanTtl(max)} ${path}`,
        });
  }
  return findings;
}
