import { SealwatchError, UsageError } from '../errors.js';
import type { RunbookDeps } from './runbook.js';

/** The current key shares: given on the command line, the site's key holders (a lab), or typed at a prompt. */
export async function currentShares(deps: RunbookDeps, threshold: number): Promise<readonly string[]> {
  const shares =
    (await deps.runtime?.currentShares?.()) ??
    deps.site?.keyHolders?.currentShares() ??
    (await deps.runtime?.promptShares?.(threshold));
  if (!shares || shares.length === 0)
    throw new UsageError(
      'no unseal key shares: give --unseal-keys-file F (one share per line), --unseal-keys-stdin, or run on a terminal to type them',
    );
  if (shares.length < threshold)
    throw new SealwatchError(
      'unseal_shares_insufficient',
      `${shares.length} key share(s) given, the threshold is ${threshold}: nothing was submitted; give at least ${threshold}`,
      { details: { given: shares.length, threshold } },
    );
  return shares;
}
