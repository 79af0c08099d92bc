import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { refusal } from '../refusal.js';
import type { MountInfo } from '../../vault/types.js';

/**
 * The auth mounts (`sys/auth`) for a check, or, when the server refuses them, the one finding that
 * says the check could not read them (any other error is thrown, as `refusal` does).
 */
export async function authMountsOrRefusal(
  ctx: PostureContext,
  check: Pick<PostureCheck, 'id' | 'area'>,
): Promise<{ mounts: Record<string, MountInfo> } | { refused: PostureFinding }> {
  try {
    return { mounts: await ctx.vault.listAuthMounts() };
  } catch (error) {
    return { refused: refusal(check, 'the auth mounts', { capability: 'read', path: 'sys/auth' }, error) };
  }
}
