import { findingOf, type LiveEvent, type SuspicionRule } from '../rule.js';

/** A call made with a root token: its request event (one per call) carries the policy "root". */
export const isRootTokenCall = (event: Pick<LiveEvent, 'type' | 'policies'>) =>
  event.type === 'request' && event.policies.includes('root');

/** Root tokens should exist only during break-glass work; any call made with one is worth a look. */
export const rootTokenRule = {
  id: 'root-token',
  severity: 'high',
  explanation: 'a call was made with a root token (policy "root")',
  async detect({ data }) {
    const requests = await data.rootTokenRequests();
    // The LIKE behind the query is loose (and case-insensitive on SQLite); the policy list decides.
    return { findings: requests.filter(isRootTokenCall).map((e) => findingOf(e)) };
  },
  live: {
    labels: ['accessor', 'display_name'],
    runbook: null,
    start: () => ({ observe: (event) => (isRootTokenCall(event) ? [findingOf(event)] : []) }),
  },
} as const satisfies SuspicionRule<'root-token'>;
