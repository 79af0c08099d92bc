import type { AnalysisEvent } from '../../store/repositories/audit-analysis.repository.js';
import { auditTimeMs, findingOf, isLoginPath, type SuspicionRule } from '../rule.js';

/**
 * Many failed logins from one address in a short time: password guessing or credential stuffing.
 * Every failure that belongs to such a burst is a finding; the count and span come from config.
 */
export const loginBurstRule = {
  id: 'login-burst',
  severity: 'high',
  explanation: 'a burst of failed logins from one address',
  async detect({ data, thresholds }) {
    const failed = (await data.failedResponses()).filter((e) => isLoginPath(e.path));
    const byAddress = new Map<string, AnalysisEvent[]>();
    for (const event of failed) {
      const key = event.remote_address ?? '(unknown address)';
      byAddress.set(key, [...(byAddress.get(key) ?? []), event]);
    }
    const detail = `${thresholds.loginBurstCount}+ failed logins within ${thresholds.loginBurstWithinMs / 60_000} min`;
    const findings = [];
    for (const events of byAddress.values()) {
      const inBurst = new Set<AnalysisEvent>();
      let start = 0;
      for (let end = 0; end < events.length; end++) {
        while (
          auditTimeMs(events[end]!.time) - auditTimeMs(events[start]!.time) >
          thresholds.loginBurstWithinMs
        )
          start++;
        if (end - start + 1 >= thresholds.loginBurstCount)
          for (let i = start; i <= end; i++) inBurst.add(events[i]!);
      }
      for (const event of events) if (inBurst.has(event)) findings.push(findingOf(event, detail));
    }
    return { findings };
  },
} as const satisfies SuspicionRule<'login-burst'>;
