import type { AlertRule } from '../alert-rule.js';

/** One more lost voter and the cluster loses quorum. */
export const failureToleranceZeroAlert: AlertRule = {
  id: 'failure-tolerance-zero',
  severity: 'high',
  forMs: 0,
  runbook: 'leader-election',
  description: 'raft failure tolerance is 0: losing one more voter loses quorum',
  evaluate: (sample) => {
    if (!sample.autopilot?.ok) return undefined;
    return sample.autopilot.value.failureTolerance === 0
      ? [{ labels: {}, summary: 'raft failure tolerance is 0: one more lost voter loses quorum' }]
      : [];
  },
};
