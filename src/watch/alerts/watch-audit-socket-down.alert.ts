import type { AlertRule } from '../alert-rule.js';

/** watch's audit socket listener is not listening: the socket audit device's events are not received. */
export const watchAuditSocketDownAlert: AlertRule = {
  id: 'watch-audit-socket-down',
  severity: 'high',
  forMs: 0,
  runbook: null,
  description: "watch's audit socket listener is down",
  evaluate: (sample) =>
    sample.faults.auditSockets.map((s) => ({
      labels: { socket: s.bind },
      summary: `watch is not receiving the audit socket ${s.bind}: ${s.error}`,
    })),
};
