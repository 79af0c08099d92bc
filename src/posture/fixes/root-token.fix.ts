import { BadRequestError } from '../../vault/errors.js';
import type { VaultClient } from '../../vault/client.js';
import { evidenceString, refuseOrContinue, type PostureFixer } from './fix.js';

/**
 * A live root token (root-tokens:accessor:X) is revoked by its accessor: the token itself is never
 * read, printed or journalled. The token sealwatch runs with is refused: revoking it would cut the
 * run off half-way and may be the operator's only root access.
 */
export const revokeRootTokenFix: PostureFixer = {
  name: 'revoke-root-token',
  title: 'revoke the root token by accessor',
  handles: (finding) => finding.id.startsWith('root-tokens:accessor:'),
  async refuse(finding, { vault }) {
    const accessor = evidenceString(finding, 'accessor');
    if ((await vault.tokenLookupSelf()).accessor === accessor)
      return `accessor ${accessor} is the token sealwatch runs with: revoke it with another token (generate a new root token only if you must, and revoke it after)`;
    return undefined;
  },
  async plan(finding) {
    const accessor = evidenceString(finding, 'accessor');
    return [
      {
        action: `revoke the root token with accessor ${accessor} (auth/token/revoke-accessor) and its child tokens`,
        details: { accessor, display_name: finding.evidence['display_name'] ?? null },
        destructive: true,
      },
    ];
  },
  async apply(finding, deps) {
    await refuseOrContinue(this, finding, deps);
    const accessor = evidenceString(finding, 'accessor');
    if (!(await accessorAlive(deps.vault, accessor)))
      // A resumed run whose revocation went through before the crash: nothing left to do.
      return { evidence: { accessor, revoked: false, already_gone: true } };
    await deps.vault.tokenRevokeAccessor(accessor);
    return { evidence: { accessor, revoked: true } };
  },
};

/** Whether a token with this accessor still exists (OpenBao answers 400 "invalid accessor" once it is gone). */
export async function accessorAlive(vault: VaultClient, accessor: string): Promise<boolean> {
  try {
    await vault.tokenLookupAccessor(accessor);
    return true;
  } catch (error) {
    // Only the server's "no such accessor" means gone; any other error (denied, sealed) is thrown.
    if (error instanceof BadRequestError && error.serverErrors.some((e) => e.includes('invalid accessor')))
      return false;
    throw error;
  }
}
