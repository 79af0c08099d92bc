import type { AssessThresholds } from '../../config/load.js';
import {
  auditTimeMs,
  findingOf,
  isLoginPath,
  type LiveEvent,
  type RuleFinding,
  type SuspicionRule,
} from '../rule.js';

type Event = Omit<LiveEvent, 'tenant' | 'client_token'>;

/** A failed login: the response (so the outcome is known) of a call to an auth method's login. */
export const isFailedLogin = (event: Pick<LiveEvent, 'type' | 'error' | 'path'>) =>
  event.type === 'response' && event.error !== null && isLoginPath(event.path);

/** Addresses tracked before the idle ones (no failure within the span) are forgotten. */
const ADDRESSES_BEFORE_SWEEP = 50_000;

/**
 * Finds bursts in failed logins given in time order, one at a time: both the stored window (its
 * failed responses, ordered by time) and the live stream go through this. A failure belongs to a
 * burst when `count` failures from its address fall within `withinMs` of one another around it.
 * State per address: the times of the last `count` failures and the failures not yet reported that
 * a later one could still pull into a burst (fewer than `count`), so memory is bounded.
 */
export function burstFinder(thresholds: Pick<AssessThresholds, 'loginBurstCount' | 'loginBurstWithinMs'>) {
  const count = thresholds.loginBurstCount;
  const within = thresholds.loginBurstWithinMs;
  const detail = `${count}+ failed logins within ${within / 60_000} min`;
  const byAddress = new Map<string, { times: number[]; waiting: { at: number; event: Event }[] }>();
  return (event: Event): RuleFinding[] => {
    if (!isFailedLogin(event)) return [];
    const at = auditTimeMs(event.time);
    const key = event.remote_address ?? '(unknown address)';
    let own = byAddress.get(key);
    if (!own) {
      if (byAddress.size >= ADDRESSES_BEFORE_SWEEP)
        for (const [address, state] of byAddress)
          if (at - state.times[state.times.length - 1]! > within) byAddress.delete(address);
      byAddress.set(key, (own = { times: [], waiting: [] }));
    }
    own.times.push(at);
    if (own.times.length > count) own.times.shift();
    own.waiting = own.waiting.filter((w) => at - w.at <= within);
    if (own.times.length < count || at - own.times[0]! > within) {
      own.waiting.push({ at, event });
      return [];
    }
    const findings = [...own.waiting.map((w) => findingOf(w.event, detail)), findingOf(event, detail)];
    own.waiting = [];
    return findings;
  };
}

/**
 * Many failed logins from one address in a short time: password guessing or credential stuffing.
 * Every failure that belongs to such a burst is a finding; the count and span come from config.
 */
export const loginBurstRule = {
  id: 'login-burst',
  severity: 'high',
  explanation: 'a burst of failed logins from one address',
  async detect({ data, thresholds }) {
    const find = burstFinder(thresholds);
    return { findings: (await data.failedResponses()).flatMap(find) };
  },
  live: {
    labels: ['remote_address'],
    runbook: 'auth-failures',
    start: ({ thresholds }) => ({ observe: burstFinder(thresholds) }),
  },
} as const satisfies SuspicionRule<'login-burst'>;
