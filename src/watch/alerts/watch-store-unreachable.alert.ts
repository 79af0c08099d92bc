import type { AlertRule } from '../alert-rule.js';

/** watch cannot use its store: alert state and audit events are not being kept. */
export const watchStoreUnreachableAlert: AlertRule = {
  id: 'watch-store-unreachable',
  severity: 'high',
  forMs: 0,
  runbook: null,
  description: "watch's store cannot be read or written",
  evaluate: (sample) =>
    sample.faults.store ? [{ labels: {}, summary: `the store is unreachable: ${sample.faults.store}` }] : [],
};
