import pLimit from 'p-limit';
import { z } from 'zod';
import type { PostureCheck, PostureFinding } from '../check.js';
import { humanTtl, refusal } from '../refusal.js';
import { authMountMaxTtl, tokenLifetime } from '../token-lifetime.js';

const check = { id: 'token-roles', area: 'tokens' } as const;
const raised = { check: check.id, area: check.area } as const;

const roleSchema = z.looseObject({
  allowed_policies: z.array(z.string()).nullable().default([]),
  allowed_policies_glob: z.array(z.string()).nullable().default([]),
  disallowed_policies: z.array(z.string()).nullable().default([]),
  orphan: z.boolean().default(false),
  token_explicit_max_ttl: z.number().default(0),
  token_period: z.number().default(0),
});

/** A glob the server matches policy names with; `*` alone (or only stars) matches every name. */
const matchesEverything = (glob: string) => /^\*+$/.test(glob);
const globMatches = (glob: string, name: string) =>
  new RegExp(`^${glob.split('*').map(escape).join('.*')}$`).test(name);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Token roles (`auth/token/roles/*`): a role issues tokens with the policies it allows, whatever the
 * caller's own policies are, so an `allowed_policies_glob` of `*` lets anyone allowed to use the role
 * mint any policy (high). Naming `root` is refused by OpenBao unless the caller is root itself, but
 * it states an intent worth removing (medium). Tokens the role issues that can outlive
 * `posture.max_token_ttl` (its explicit max, else the token mount's max lease TTL) or are periodic
 * without a max are medium when the role says so, low when inherited from the mount.
 */
export const tokenRolesCheck: PostureCheck = {
  ...check,
  title: 'token roles allowing root or arbitrary policies, or long-lived tokens',
  async run(ctx) {
    let names: string[];
    try {
      names = await ctx.vault.list('auth/token/roles');
    } catch (error) {
      return [refusal(check, 'the token roles', { capability: 'list', path: 'auth/token/roles' }, error)];
    }
    if (names.length === 0) return [];
    let mountMax: number;
    try {
      mountMax = await authMountMaxTtl(ctx, 'token');
    } catch (error) {
      return [
        refusal(check, 'the token mount tuning', { capability: 'read', path: 'sys/auth/token/tune' }, error),
      ];
    }
    const max = ctx.config.posture.maxTokenTtlSeconds;
    const limit = pLimit(16);
    const perRole = await Promise.all(
      names.sort().map((name) =>
        limit(async (): Promise<PostureFinding[]> => {
          const path = `auth/token/roles/${name}`;
          let role;
          try {
            role = roleSchema.parse((await ctx.vault.read(path)).data);
          } catch (error) {
            return [refusal(check, `token role ${name}`, { capability: 'read', path }, error)];
          }
          const findings: PostureFinding[] = [];
          const allowed = role.allowed_policies ?? [];
          const globs = role.allowed_policies_glob ?? [];
          const evidence = {
            role: name,
            allowed_policies: allowed,
            allowed_policies_glob: globs,
            disallowed_policies: role.disallowed_policies,
            orphan: role.orphan,
            token_explicit_max_ttl: role.token_explicit_max_ttl,
            token_period: role.token_period,
          };
          const everything = globs.filter(matchesEverything);
          if (everything.length > 0)
            findings.push({
              id: `token-roles:arbitrary-policies:${name}`,
              ...raised,
              severity: 'high',
              title: `token role ${name} issues tokens with any policy (allowed_policies_glob ${JSON.stringify(everything[0])})`,
              evidence,
              why: 'a role grants the policies it allows regardless of the caller’s own: whoever may use it can mint an admin token',
              fix: `bao write ${path} allowed_policies_glob="" allowed_policies=<the policies it is for>`,
            });
          const rootGrant = allowed.includes('root')
            ? 'allowed_policies'
            : globs.some((g) => !matchesEverything(g) && globMatches(g, 'root'))
              ? 'allowed_policies_glob'
              : undefined;
          if (rootGrant)
            findings.push({
              id: `token-roles:root:${name}`,
              ...raised,
              severity: 'medium',
              title: `token role ${name} allows the root policy (${rootGrant})`,
              evidence,
              why: 'OpenBao issues root tokens from a role only to a root caller, but the role keeps the path open for whoever holds root next, and hides the intent',
              fix: `bao write ${path} allowed_policies=<the policies it is for, without root>`,
            });
          const lifetime = tokenLifetime(role, mountMax);
          if (lifetime.seconds === 0 || lifetime.seconds > max)
            findings.push({
              id: `token-roles:long-ttl:${name}`,
              ...raised,
              severity: lifetime.explicit ? 'medium' : 'low',
              title:
                lifetime.seconds === 0
                  ? `token role ${name} issues periodic tokens (period ${humanTtl(role.token_period)}) without an explicit max TTL`
                  : `token role ${name} issues tokens that can live ${humanTtl(lifetime.seconds)}${lifetime.explicit ? '' : ' (the token mount’s max lease TTL)'}, above the ${humanTtl(max)} maximum`,
              evidence: {
                ...evidence,
                max_lifetime: lifetime.seconds,
                mount_max_lease_ttl: mountMax,
                max_token_ttl: max,
              },
              why: 'every token the role issues is a credential that outlives the job it was made for',
              fix: `bao write ${path} token_explicit_max_ttl=${humanTtl(max)}`,
            });
          return findings;
        }),
      ),
    );
    return perRole.flat();
  },
};
