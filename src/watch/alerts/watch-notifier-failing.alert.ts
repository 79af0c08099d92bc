import type { AlertRule } from '../alert-rule.js';

/** A notification channel's last delivery failed: its receivers are not being told. */
export const watchNotifierFailingAlert: AlertRule = {
  id: 'watch-notifier-failing',
  severity: 'high',
  forMs: 0,
  runbook: null,
  description: 'a notification channel fails to deliver',
  evaluate: (sample) =>
    sample.faults.notifiers.map((n) => ({
      labels: { channel: n.channel },
      summary: `notices to ${n.channel} fail: ${n.error}`,
    })),
};
