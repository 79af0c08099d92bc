import type { AlertRule } from '../alert-rule.js';

/**
 * vault.audit.log_request_failure / log_response_failure grew: an audit device fails, and a server
 * whose devices all fail refuses requests.
 */
export const auditDeviceFailuresAlert: AlertRule = {
  id: 'audit-device-failures',
  severity: 'critical',
  forMs: 0,
  runbook: null,
  description: 'audit devices failed to record requests or responses (sys/metrics of the active node)',
  evaluate: (sample, context) => {
    if (!sample.auditFailures?.ok) return undefined;
    const withinMs = context.settings.auditFailuresWithinMs;
    const increase = context.auditFailureIncrease(withinMs);
    if (!increase) return [];
    return increase.request + increase.response > 0
      ? [
          {
            labels: {},
            summary: `audit devices failed ${increase.request} request and ${increase.response} response record(s) in the last ${withinMs % 60_000 === 0 ? `${withinMs / 60_000} min` : `${withinMs / 1000} s`}`,
          },
        ]
      : [];
  },
};
