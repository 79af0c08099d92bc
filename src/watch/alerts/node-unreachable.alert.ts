import type { AlertRule } from '../alert-rule.js';

/** A node did not answer sys/health within the node timeout (down, hung, or cut off). */
export const nodeUnreachableAlert: AlertRule = {
  id: 'node-unreachable',
  severity: 'high',
  forMs: 0,
  runbook: 'cluster-failure',
  description: 'a node does not answer sys/health',
  evaluate: (sample) =>
    sample.nodes
      .filter((n) => !n.up)
      .map((n) => ({
        labels: { node: n.address },
        summary: `${n.address} does not answer: ${n.error ?? 'no answer'}`,
      })),
};
