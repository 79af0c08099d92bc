import type { PostureCheck, PostureFinding } from '../check.js';
import { inventoryRefusal, isRootToken, tokenInventory } from '../token-inventory.js';

const check = { id: 'root-tokens', area: 'tokens' } as const;

/** Live tokens carrying the `root` policy: each is unlimited power that should exist only during a ceremony. */
export const rootTokensCheck: PostureCheck = {
  ...check,
  title: 'live root tokens',
  async run(ctx) {
    let inventory;
    try {
      inventory = await tokenInventory(ctx);
    } catch (error) {
      return [inventoryRefusal(check, error)];
    }
    let self: string | undefined;
    try {
      self = (await ctx.vault.tokenLookupSelf()).accessor;
    } catch (error) {
      // Only to mark sealwatch's own token in the evidence; a token that cannot look itself up is
      // still checked like every other one.
      ctx.logger.debug({ err: error }, 'could not look up sealwatch token');
    }
    return inventory.tokens.filter(isRootToken).map((token): PostureFinding => ({
      id: `root-tokens:accessor:${token.accessor}`,
      check: 'root-tokens',
      area: 'tokens',
      severity: 'high',
      title: `a root token is alive (accessor ${token.accessor}${token.display_name ? `, ${token.display_name}` : ''})`,
      evidence: {
        accessor: token.accessor,
        display_name: token.display_name,
        policies: token.policies,
        issue_time: token.issue_time ?? null,
        expire_time: token.expire_time,
        path: token.path,
        ...(self === token.accessor && { used_by_sealwatch: true }),
      },
      why: 'a root token bypasses every policy and, with no expiry, outlives whoever made it; generate one for a task and revoke it after (sys/generate-root)',
      fix: `bao token revoke -accessor ${token.accessor}`,
    }));
  },
};
