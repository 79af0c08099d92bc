import type { AlertRule } from '../alert-rule.js';

const age = (ms: number) =>
  ms >= 86_400_000
    ? `${(ms / 86_400_000).toFixed(1)} d`
    : ms >= 3_600_000
      ? `${(ms / 3_600_000).toFixed(1)} h`
      : `${Math.round(ms / 1000)} s`;

/**
 * The newest snapshot whose latest `backup verify` drill passed (and whose file is still there) was
 * taken longer ago than the backup schedule (`watch.rules.snapshot_max_age`), or there is none: a
 * cluster failure now would lose more than the schedule promises, or be unrecoverable.
 */
export const snapshotStaleAlert: AlertRule = {
  id: 'snapshot-stale',
  severity: 'high',
  forMs: 0,
  runbook: 'cluster-failure',
  description: 'the newest verified snapshot is older than the backup schedule, or there is none',
  evaluate: (sample, context) => {
    const maxAgeMs = context.settings.snapshotMaxAgeMs;
    // Not configured: the rule is off (no schedule to hold snapshots to).
    if (maxAgeMs === undefined) return [];
    if (!sample.snapshot?.ok) return undefined;
    const newest = sample.snapshot.value.newest;
    if (!newest)
      return [
        {
          labels: {},
          summary: `no verified snapshot at all: take one (sealwatch backup snapshot) and drill it (sealwatch backup verify FILE); the schedule is every ${age(maxAgeMs)}`,
        },
      ];
    const old = sample.at.getTime() - Date.parse(newest.takenAt);
    return old > maxAgeMs
      ? [
          {
            labels: {},
            summary: `the newest verified snapshot (${newest.id}, taken ${newest.takenAt}) is ${age(old)} old, more than the schedule of ${age(maxAgeMs)}`,
          },
        ]
      : [];
  },
};
