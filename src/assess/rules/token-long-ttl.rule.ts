import { findingOf, type SuspicionRule } from '../rule.js';

/**
 * A token created to outlive an incident response, or to never expire: a classic way to keep
 * access. OpenBao logs the new token's lifetime only as response.auth.token_ttl (0 = no expiry),
 * stored as issued_token_ttl; the actor is the creator.
 */
export const tokenLongTtlRule = {
  id: 'token-long-ttl',
  severity: 'medium',
  explanation: 'a token was created with a long or no TTL',
  async detect({ data, thresholds }) {
    const findings = [];
    for (const event of await data.tokenCreations()) {
      const ttl = event.issued_token_ttl;
      if (ttl === null) continue;
      if (ttl === 0) findings.push(findingOf(event, 'token never expires (ttl 0)'));
      else if (ttl > thresholds.maxTokenTtlSeconds)
        findings.push(
          findingOf(event, `ttl ${formatSeconds(ttl)} > ${formatSeconds(thresholds.maxTokenTtlSeconds)}`),
        );
    }
    return { findings };
  },
} as const satisfies SuspicionRule<'token-long-ttl'>;

function formatSeconds(seconds: number): string {
  if (seconds % 86_400 === 0 && seconds >= 2 * 86_400) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds}s`;
}
