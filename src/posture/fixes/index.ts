import type { PostureFinding } from '../check.js';
import { disableAuthMountFix } from './auth-disable.fix.js';
import { appRoleTtlFix } from './approle-ttl.fix.js';
import { disableEngineFix } from './engine-unused.fix.js';
import type { PostureFixer } from './fix.js';
import { mountTtlFix } from './mount-ttl.fix.js';
import { policyDenyFix } from './policy-deny.fix.js';
import { revokeRootTokenFix } from './root-token.fix.js';

/**
 * The automated fixes of `posture fix`, by the check whose findings they fix (a check raises several
 * kinds of finding; each fixer says which it handles). Adding one is one file in fixes/ and one entry
 * here. A finding no fixer handles is reported as manual, with the finding's own `fix`.
 */
export const POSTURE_FIXERS = {
  'root-tokens': [revokeRootTokenFix],
  'token-ttl': [mountTtlFix],
  'auth-unused': [appRoleTtlFix, disableAuthMountFix],
  'policy-cross-tenant': [policyDenyFix],
  'engines-unused': [disableEngineFix],
} satisfies Record<string, readonly PostureFixer[]>;

const BY_CHECK: ReadonlyMap<string, readonly PostureFixer[]> = new Map(Object.entries(POSTURE_FIXERS));

/** The fixer for a finding, or undefined when its fix is not automated. */
export function fixerFor(finding: PostureFinding): PostureFixer | undefined {
  return BY_CHECK.get(finding.check)?.find((fixer) => fixer.handles(finding));
}
