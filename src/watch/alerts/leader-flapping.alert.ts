import type { AlertRule } from '../alert-rule.js';

/** The active node changed more often than the threshold allows within the window (10 min by default). */
export const leaderFlappingAlert: AlertRule = {
  id: 'leader-flapping',
  severity: 'high',
  forMs: 0,
  runbook: 'leader-election',
  description: 'the leader changed more than N times within the window',
  evaluate: (_sample, context) => {
    const { leaderChangesMax, leaderChangesWithinMs } = context.thresholds;
    const changes = context.leaderChanges(leaderChangesWithinMs);
    return changes > leaderChangesMax
      ? [
          {
            labels: {},
            summary: `the leader changed ${changes} times within ${leaderChangesWithinMs / 60_000} min (more than ${leaderChangesMax})`,
          },
        ]
      : [];
  },
};
