import type { AlertRule } from '../alert-rule.js';

/**
 * Failed logins (responses to auth/<mount>/login that issued no token, in the audit store) in the
 * current window are above `auth_failures_min` and above `auth_failures_factor` times the rate of
 * the baseline window before it: a password-guessing or credential-stuffing burst, or a client
 * whose credentials were rotated under it (the auth-failures runbook tells them apart).
 */
export const authFailureRateAlert: AlertRule = {
  id: 'auth-failure-rate',
  severity: 'high',
  forMs: 0,
  runbook: 'auth-failures',
  description: 'failed logins in the window are above their baseline rate',
  evaluate: (sample, context) => {
    if (!sample.authFailures?.ok) return undefined;
    const { recent, baseline, withinMs, baselineMs } = sample.authFailures.value;
    const { authFailuresMin, authFailuresFactor } = context.settings;
    const expected = (baseline * withinMs) / baselineMs;
    const limit = Math.max(authFailuresMin, authFailuresFactor * expected);
    const window = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);
    return recent >= limit && recent > authFailuresFactor * expected
      ? [
          {
            labels: {},
            summary: `${recent} failed login(s) in the last ${window(withinMs)}, against a baseline of ${expected.toFixed(1)} per ${window(withinMs)} (${baseline} in the ${window(baselineMs)} before)`,
          },
        ]
      : [];
  },
};
