import pLimit from 'p-limit';
import { z } from 'zod';
import type { PostureCheck, PostureFinding } from '../check.js';
import { humanTtl, refusal } from '../refusal.js';
import { authMountsOrRefusal } from './auth-mounts.js';
import { authMountMaxTtl, tokenLifetime } from '../token-lifetime.js';

const check = { id: 'userpass-ttl', area: 'auth' } as const;
const raised = { check: check.id, area: check.area } as const;

const userSchema = z.looseObject({
  token_ttl: z.number().default(0),
  token_max_ttl: z.number().default(0),
  token_explicit_max_ttl: z.number().default(0),
  token_period: z.number().default(0),
});

/** Reads in flight: a mount with thousands of users is read in seconds. */
const READS_IN_FLIGHT = 16;

/**
 * Userpass users whose login tokens can outlive `posture.max_token_ttl`: by the user's own
 * token_max_ttl / token_explicit_max_ttl / token_period (medium), or by inheriting the mount's max
 * lease TTL (low: the fix is on the mount or the user).
 */
export const userpassTtlCheck: PostureCheck = {
  ...check,
  title: 'userpass users whose tokens live long',
  async run(ctx) {
    const read = await authMountsOrRefusal(ctx, check);
    if ('refused' in read) return [read.refused];
    const { mounts } = read;
    const max = ctx.config.posture.maxTokenTtlSeconds;
    const limit = pLimit(READS_IN_FLIGHT);
    const findings: PostureFinding[] = [];
    for (const path of Object.keys(mounts).sort()) {
      if (mounts[path]!.type !== 'userpass') continue;
      const mount = path.replace(/\/$/, '');
      let users: string[];
      let mountMax: number;
      try {
        users = await ctx.vault.list(`auth/${mount}/users`);
      } catch (error) {
        findings.push(
          refusal(check, `the users of ${path}`, { capability: 'list', path: `auth/${mount}/users` }, error),
        );
        continue;
      }
      if (users.length === 0) continue;
      try {
        mountMax = await authMountMaxTtl(ctx, mount);
      } catch (error) {
        findings.push(
          refusal(
            check,
            `the tuning of ${path}`,
            { capability: 'read', path: `sys/auth/${mount}/tune` },
            error,
          ),
        );
        continue;
      }
      const perUser = await Promise.all(
        users.sort().map((user) =>
          limit(async (): Promise<PostureFinding | undefined> => {
            const userPath = `auth/${mount}/users/${user}`;
            let settings;
            try {
              settings = userSchema.parse((await ctx.vault.read(userPath)).data);
            } catch (error) {
              return refusal(
                check,
                `userpass user ${userPath}`,
                { capability: 'read', path: userPath },
                error,
              );
            }
            const lifetime = tokenLifetime(settings, mountMax);
            if (lifetime.seconds !== 0 && lifetime.seconds <= max) return undefined;
            return {
              id: `userpass-ttl:${mount}/${user}`,
              ...raised,
              severity: lifetime.explicit ? 'medium' : 'low',
              title:
                lifetime.seconds === 0
                  ? `userpass user ${user} on ${path} gets periodic tokens (period ${humanTtl(settings.token_period)}) without an explicit max TTL`
                  : `userpass user ${user} on ${path} gets tokens that can live ${humanTtl(lifetime.seconds)}${lifetime.explicit ? '' : ' (the mount’s max lease TTL)'}, above the ${humanTtl(max)} maximum`,
              evidence: {
                user: userPath,
                ...settings,
                max_lifetime: lifetime.seconds,
                mount_max_lease_ttl: mountMax,
                max_token_ttl: max,
              },
              why: 'a person’s token that lives for weeks is a credential left in shells, browsers and notes long after the work is done',
              fix: `bao write ${userPath} token_ttl=1h token_max_ttl=${humanTtl(max)}  # or for every user: bao auth tune -max-lease-ttl=${humanTtl(max)} ${mount}`,
            };
          }),
        ),
      );
      findings.push(...perUser.filter((f) => f !== undefined));
    }
    return findings;
  },
};
