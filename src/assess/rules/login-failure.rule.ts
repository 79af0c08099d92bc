import { findingOf, isLoginPath, type SuspicionRule } from '../rule.js';

/** A failed login: a wrong password, a stale or stolen secret ID, a guessed role. */
export const loginFailureRule = {
  id: 'login-failure',
  severity: 'medium',
  explanation: 'a login failed',
  async detect({ data }) {
    const failed = await data.failedResponses();
    return { findings: failed.filter((e) => isLoginPath(e.path)).map((e) => findingOf(e)) };
  },
} as const satisfies SuspicionRule<'login-failure'>;
