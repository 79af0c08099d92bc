import { describe, expect, it } from 'vitest';
import type { RuleContext } from '../alert-rule.js';
import { leaderTelemetry } from '../poll.js';
import { DEFAULT_RULE_SETTINGS, ruleSettings, type WatchRuleSettings } from '../rule-settings.js';
import type { ClusterSample } from '../sample.js';
import { authFailureRateAlert } from './auth-failure-rate.alert.js';
import { leaseCountGrowthAlert } from './lease-count-growth.alert.js';
import { memoryHighAlert } from './memory-high.alert.js';
import { snapshotStaleAlert } from './snapshot-stale.alert.js';

const NOW = new Date('2026-12-06T05:00:00.000Z');

const sample = (over: Partial<ClusterSample> = {}): ClusterSample => ({
  at: NOW,
  nodes: [],
  leader: 'http://n1:8200',
  autopilot: undefined,
  auditFailures: undefined,
  faults: { auditSockets: [], store: undefined, notifiers: [] },
  tls: undefined,
  ...over,
});

const context = (
  settings: Partial<WatchRuleSettings> = {},
  growth?: { lowest: number; latest: number },
): RuleContext => ({
  leaderChanges: () => 0,
  auditFailureIncrease: () => undefined,
  thresholds: { leaderChangesMax: 3, leaderChangesWithinMs: 600_000 },
  settings: { ...DEFAULT_RULE_SETTINGS, ...settings },
  leaseGrowth: () => growth,
});

const telemetry = (allocBytes?: number, sysBytes?: number, leases?: number): Partial<ClusterSample> => ({
  telemetry: { ok: true, value: { node: 'http://n1:8200', allocBytes, sysBytes, leases } },
});

describe('memory-high', () => {
  it('fires above the ratio, with the node and the figures', () => {
    const [c] = memoryHighAlert.evaluate(sample(telemetry(90 << 20, 100 << 20)), context())!;
    expect(c!.labels).toEqual({ node: 'http://n1:8200' });
    expect(c!.summary).toContain(
      'heap in use is 90% of the memory the process holds (90 MiB of 100 MiB; threshold 80%)',
    );
    expect(memoryHighAlert.evaluate(sample(telemetry(50 << 20, 100 << 20)), context())).toEqual([]);
  });
  it('could not look without telemetry or without the runtime gauges', () => {
    expect(memoryHighAlert.evaluate(sample(), context())).toBeUndefined();
    expect(memoryHighAlert.evaluate(sample(telemetry(undefined, 100)), context())).toBeUndefined();
    expect(
      memoryHighAlert.evaluate(sample({ telemetry: { ok: false, reason: 'timeout' } }), context()),
    ).toBeUndefined();
  });
  it('reads the gauges from the Prometheus text OpenBao serves', () => {
    const text =
      'vault_runtime_alloc_bytes 1.5e+07\nvault_runtime_sys_bytes 3.6e+07\nvault_expire_num_leases 8\n';
    expect(leaderTelemetry('n', text)).toEqual({
      node: 'n',
      allocBytes: 15_000_000,
      sysBytes: 36_000_000,
      leases: 8,
    });
  });
});

describe('lease-count-growth', () => {
  const settings = { leaseGrowthMin: 40, leaseGrowthFraction: 0.5, leaseGrowthWithinMs: 20_000 };
  it('fires on growth above both the count and the fraction', () => {
    const [c] = leaseCountGrowthAlert.evaluate(
      sample(telemetry(1, 2, 70)),
      context(settings, { lowest: 10, latest: 70 }),
    )!;
    expect(c!.summary).toBe(
      'the lease count grew by 60 (10 → 70, +600%) within 20 s (threshold: 40 and +50%)',
    );
  });
  it('stays quiet on small or proportionally small growth, and with too little history', () => {
    expect(
      leaseCountGrowthAlert.evaluate(
        sample(telemetry(1, 2, 30)),
        context(settings, { lowest: 10, latest: 30 }),
      ),
    ).toEqual([]);
    expect(
      leaseCountGrowthAlert.evaluate(
        sample(telemetry(1, 2, 10_050)),
        context(settings, { lowest: 10_000, latest: 10_050 }),
      ),
    ).toEqual([]);
    expect(leaseCountGrowthAlert.evaluate(sample(telemetry(1, 2, 70)), context(settings))).toEqual([]);
  });
  it('could not look when the server exports no lease gauge', () => {
    expect(leaseCountGrowthAlert.evaluate(sample(telemetry(1, 2)), context(settings))).toBeUndefined();
  });
});

describe('auth-failure-rate', () => {
  const auth = (recent: number, baseline: number): Partial<ClusterSample> => ({
    authFailures: { ok: true, value: { recent, baseline, withinMs: 300_000, baselineMs: 3_600_000 } },
  });
  it('fires above the minimum and above the factor times the baseline rate', () => {
    const [c] = authFailureRateAlert.evaluate(sample(auth(25, 24)), context())!;
    expect(c!.summary).toBe(
      '25 failed login(s) in the last 5 min, against a baseline of 2.0 per 5 min (24 in the 60 min before)',
    );
  });
  it('stays quiet below the minimum, or when the baseline is as busy', () => {
    expect(authFailureRateAlert.evaluate(sample(auth(19, 0)), context())).toEqual([]);
    // 120 per hour is 10 per 5 min: 25 is not more than 3 times that.
    expect(authFailureRateAlert.evaluate(sample(auth(25, 120)), context())).toEqual([]);
  });
  it('could not look when the store did not answer', () => {
    expect(
      authFailureRateAlert.evaluate(sample({ authFailures: { ok: false, reason: 'down' } }), context()),
    ).toBeUndefined();
  });
});

describe('snapshot-stale', () => {
  const snap = (takenAt?: string): Partial<ClusterSample> => ({
    snapshot: {
      ok: true,
      value: {
        maxAgeMs: 86_400_000,
        newest: takenAt ? { id: 'b1', takenAt, file: '/b1.snap', verifiedAt: takenAt } : undefined,
      },
    },
  });
  const on = { snapshotMaxAgeMs: 86_400_000 };
  it('is off without a schedule', () => {
    expect(snapshotStaleAlert.evaluate(sample(snap()), context())).toEqual([]);
  });
  it('fires with a clear summary when no snapshot was ever verified', () => {
    const [c] = snapshotStaleAlert.evaluate(sample(snap()), context(on))!;
    expect(c!.summary).toMatch(/^no verified snapshot at all: take one \(sealwatch backup snapshot\)/);
  });
  it('fires when the newest verified snapshot is older than the schedule, not before', () => {
    const [c] = snapshotStaleAlert.evaluate(sample(snap('2026-12-04T05:00:00.000Z')), context(on))!;
    expect(c!.summary).toBe(
      'the newest verified snapshot (b1, taken 2026-12-04T05:00:00.000Z) is 2.0 d old, more than the schedule of 1.0 d',
    );
    expect(snapshotStaleAlert.evaluate(sample(snap('2026-12-05T06:00:00.000Z')), context(on))).toEqual([]);
  });
  it('could not look when the store did not answer', () => {
    expect(
      snapshotStaleAlert.evaluate(sample({ snapshot: { ok: false, reason: 'down' } }), context(on)),
    ).toBeUndefined();
  });
});

describe('ruleSettings', () => {
  it('takes the config keys, durations parsed, the rest at their defaults', () => {
    const s = ruleSettings({ memory_ratio: 0.5, lease_growth_within: '20s', snapshot_max_age: '24h' });
    expect(s).toMatchObject({ memoryRatio: 0.5, leaseGrowthWithinMs: 20_000, snapshotMaxAgeMs: 86_400_000 });
    expect(s.authFailuresMin).toBe(DEFAULT_RULE_SETTINGS.authFailuresMin);
    expect(ruleSettings({}).snapshotMaxAgeMs).toBeUndefined();
  });
});
