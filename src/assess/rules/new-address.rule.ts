import { findingOf, type LiveEvaluator, type LiveEvent, type SuspicionRule } from '../rule.js';

const detailOf = (event: Pick<LiveEvent, 'remote_address'>) =>
  `first request from ${event.remote_address ?? '?'} by this actor`;

/** New addresses followed live before the oldest is forgotten, and actors per address. */
const MAX_NEW_ADDRESSES = 10_000;
const MAX_ACTORS_PER_ADDRESS = 1_000;

/**
 * Requests from an address never seen before the window: a new client, or someone else's. Without
 * stored history before the window there is nothing to compare with, and the rule says so rather
 * than calling every address new. A finding is the first request of each actor (accessor, or none)
 * from such an address. Live, "before the window" is before watch started: the addresses stored
 * then are known, any other is new for as long as watch runs.
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
    return { findings: firstRequests.map((e) => findingOf(e, detailOf(e))) };
  },
  live: {
    labels: ['remote_address'],
    runbook: null,
    start: ({ knownAddresses }): LiveEvaluator => {
      if (!knownAddresses) return { observe: () => [] };
      const actorsOf = new Map<string, Set<string>>();
      return {
        observe(event) {
          const address = event.remote_address;
          if (address === null || event.type !== 'request' || knownAddresses.has(address)) return [];
          let actors = actorsOf.get(address);
          if (!actors) {
            if (actorsOf.size >= MAX_NEW_ADDRESSES) actorsOf.delete(actorsOf.keys().next().value!);
            actorsOf.set(address, (actors = new Set()));
          }
          const actor = event.accessor ?? '';
          if (actors.has(actor) || actors.size >= MAX_ACTORS_PER_ADDRESS) return [];
          actors.add(actor);
          return [findingOf(event, detailOf(event))];
        },
      };
    },
  },
} as const satisfies SuspicionRule<'new-address'>;
