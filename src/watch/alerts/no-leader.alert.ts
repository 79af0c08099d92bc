import type { AlertRule } from '../alert-rule.js';

/** No node answered sys/health 200: nothing is served, whatever the standbys say. */
export const noLeaderAlert: AlertRule = {
  id: 'no-leader',
  severity: 'critical',
  forMs: 0,
  runbook: 'leader-election',
  description: 'no node is active',
  evaluate: (sample) => {
    if (sample.leader) return [];
    const up = sample.nodes.filter((n) => n.up);
    const unsealed = up.filter((n) => n.sealed === false).length;
    return [
      {
        labels: {},
        summary: `no active node: ${up.length} of ${sample.nodes.length} node(s) answer, ${unsealed} unsealed`,
      },
    ];
  },
};
