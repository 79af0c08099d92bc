import { findingOf, isLoginPath, isPermissionDenied, type SuspicionRule } from '../rule.js';

/** An ACL refusal: a token trying paths its policies do not grant is probing, or misused. */
export const permissionDeniedRule = {
  id: 'permission-denied',
  severity: 'medium',
  explanation: 'a call was refused by policy (permission denied)',
  async detect({ data }) {
    const failed = await data.failedResponses();
    return {
      findings: failed
        .filter((e) => isPermissionDenied(e.error) && !isLoginPath(e.path))
        .map((e) => findingOf(e)),
    };
  },
} as const satisfies SuspicionRule<'permission-denied'>;
