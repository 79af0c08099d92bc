import { findingOf, type SuspicionRule } from '../rule.js';

/** Root tokens should exist only during break-glass work; any call made with one is worth a look. */
export const rootTokenRule = {
  id: 'root-token',
  severity: 'high',
  explanation: 'a call was made with a root token (policy "root")',
  async detect({ data }) {
    const requests = await data.rootTokenRequests();
    // The LIKE behind the query is loose (and case-insensitive on SQLite); the policy list decides.
    return { findings: requests.filter((e) => e.policies.includes('root')).map((e) => findingOf(e)) };
  },
} as const satisfies SuspicionRule<'root-token'>;
