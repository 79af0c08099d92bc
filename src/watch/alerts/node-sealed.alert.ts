import type { AlertRule } from '../alert-rule.js';

/** A node answered sys/health 503: it serves nothing until a key-holder quorum unseals it. */
export const nodeSealedAlert: AlertRule = {
  id: 'node-sealed',
  severity: 'critical',
  forMs: 0,
  runbook: 'sealed',
  description: 'a node is sealed (sys/health 503)',
  evaluate: (sample) =>
    sample.nodes
      .filter((n) => n.up && n.sealed === true)
      .map((n) => ({ labels: { node: n.address }, summary: `${n.address} is sealed` })),
};
