import { RevokedTokenIndex } from '../revoked-tokens.js';
import { findingOf, type LiveEvent, type RevokedTokenLookup, type SuspicionRule } from '../rule.js';

/**
 * The tripwire: a call made, after containment revoked it, with a token containment recorded as
 * revoked (src/respond/lockdown.ts records every accessor it revokes). OpenBao refuses the call,
 * but someone still holds the token: the intruder, or an application nobody knew about. Judged on
 * request events (one per call); the finding names the revoked accessor, which OpenBao does not
 * log for such a call (see RevokedTokenIndex).
 */
export function revokedTokenUse(event: Omit<LiveEvent, 'tenant'>, revoked: RevokedTokenLookup) {
  if (event.type !== 'request') return undefined;
  const record = revoked.revokedCaller(event);
  if (!record || event.time < record.revoked_at) return undefined;
  return findingOf(
    { ...event, accessor: record.accessor },
    `token revoked${record.incident_id ? ` by incident ${record.incident_id}` : ''} at ${record.revoked_at.slice(0, 19)}Z${event.error === null ? '' : ' (refused)'}`,
  );
}

export const revokedTokenUseRule = {
  id: 'revoked-token-use',
  severity: 'critical',
  explanation: 'a token revoked by an incident response was used again',
  async detect({ data }) {
    const { revoked, tokens, calls } = await data.revokedTokens();
    if (revoked.length === 0) return { findings: [] };
    const index = new RevokedTokenIndex(revoked, tokens);
    return { findings: calls.flatMap((event) => revokedTokenUse(event, index) ?? []) };
  },
  live: {
    labels: ['accessor'],
    runbook: null,
    start: ({ revoked }) => ({
      observe: (event) => {
        const finding = revokedTokenUse(event, revoked);
        return finding ? [finding] : [];
      },
    }),
  },
} as const satisfies SuspicionRule<'revoked-token-use'>;
