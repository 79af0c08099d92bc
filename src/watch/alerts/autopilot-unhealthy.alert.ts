import type { AlertRule } from '../alert-rule.js';

/** The leader's autopilot reports the raft cluster unhealthy. */
export const autopilotUnhealthyAlert: AlertRule = {
  id: 'autopilot-unhealthy',
  severity: 'high',
  forMs: 0,
  runbook: 'leader-election',
  description: 'raft autopilot reports the cluster unhealthy (asked of the leader)',
  evaluate: (sample) => {
    if (!sample.autopilot?.ok) return undefined;
    return sample.autopilot.value.healthy
      ? []
      : [{ labels: {}, summary: 'raft autopilot reports the cluster unhealthy' }];
  },
};
