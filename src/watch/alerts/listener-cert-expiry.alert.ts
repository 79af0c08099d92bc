import type { FindingSeverity } from '../../runbooks/finding.js';
import type { AlertRule } from '../alert-rule.js';

/** The bands, tightest first: an alert is in exactly one, so a shrinking certificate escalates. */
const BANDS = [7, 14, 30] as const;

/**
 * A listener's certificate ends within `days` (and not within the next tighter band): one rule per
 * band (30, 14, 7 days), each with its own severity, as the cert-expiry runbook grades them.
 */
export function listenerCertExpiryAlert(days: (typeof BANDS)[number], severity: FindingSeverity): AlertRule {
  const tighter = BANDS.filter((b) => b < days).at(-1) ?? -Infinity;
  return {
    id: `listener-cert-expires-${days}d`,
    severity,
    forMs: 0,
    runbook: 'cert-expiry',
    description: `a TLS listener's certificate ends within ${days} days`,
    evaluate: (sample) => {
      if (!sample.tls) return undefined;
      // A listener that could not be read keeps its alert as it was: not looking is not "renewed".
      if (sample.tls.some((t) => !t.certificate.ok)) return undefined;
      return sample.tls.flatMap((t) =>
        t.certificate.ok && t.certificate.value.daysLeft <= days && t.certificate.value.daysLeft > tighter
          ? [
              {
                labels: { listener: t.listener },
                summary: `the certificate of ${t.listener} (${t.certificate.value.subject}) ends ${t.certificate.value.notAfter}, in ${Math.max(0, t.certificate.value.daysLeft).toFixed(1)} days`,
              },
            ]
          : [],
      );
    },
  };
}
