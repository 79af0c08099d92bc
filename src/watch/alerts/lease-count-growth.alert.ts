import type { AlertRule } from '../alert-rule.js';

/**
 * vault.expire.num_leases (the active node's expiration manager) grew within the window by at
 * least `lease_growth_min` leases and by more than `lease_growth_fraction` of its lowest count
 * there: something creates leases (tokens, dynamic secrets) faster than they expire. Every lease
 * is loaded by a new active node before it serves, so runaway growth slows every failover.
 */
export const leaseCountGrowthAlert: AlertRule = {
  id: 'lease-count-growth',
  severity: 'medium',
  forMs: 0,
  runbook: 'memory',
  description: 'the lease count grew faster than the configured rate within the window',
  evaluate: (sample, context) => {
    if (!sample.telemetry?.ok || sample.telemetry.value.leases === undefined) return undefined;
    const { leaseGrowthWithinMs, leaseGrowthMin, leaseGrowthFraction } = context.settings;
    const growth = context.leaseGrowth(leaseGrowthWithinMs);
    if (!growth) return [];
    const added = growth.latest - growth.lowest;
    const fraction = added / Math.max(1, growth.lowest);
    const within = `${Math.round(leaseGrowthWithinMs / 1000)} s`;
    return added >= leaseGrowthMin && fraction > leaseGrowthFraction
      ? [
          {
            labels: {},
            summary: `the lease count grew by ${added} (${growth.lowest} → ${growth.latest}, +${Math.round(fraction * 100)}%) within ${within} (threshold: ${leaseGrowthMin} and +${Math.round(leaseGrowthFraction * 100)}%)`,
          },
        ]
      : [];
  },
};
