import { findingOf, type SuspicionRule } from '../rule.js';

/**
 * Requests from an address never seen before the window: a new client, or someone else's. Without
 * stored history before the window there is nothing to compare with, and the rule says so rather
 * than calling every address new.
 */
export const newAddressRule = {
  id: 'new-address',
  severity: 'medium',
  explanation: 'requests from an address never seen before the window',
  async detect({ data }) {
    if (!(await data.hasHistoryBeforeWindow()))
      return {
        findings: [],
        note: 'new-address: no events stored before the window, so no address can be called new (ingest older logs to compare)',
      };
    const fresh = await data.addressesFirstSeenInWindow();
    const firstRequests = await data.firstRequestsFrom(fresh.map((a) => a.remote_address));
    return {
      findings: firstRequests.map((e) =>
        findingOf(e, `first request from ${e.remote_address ?? '?'} by this actor`),
      ),
    };
  },
} as const satisfies SuspicionRule<'new-address'>;
