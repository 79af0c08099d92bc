import { parseDuration } from '../util/duration.js';
import { DEFAULT_MEMORY_RATIO } from '../runbooks/runbooks/memory.runbook.js';

/**
 * Thresholds of the telemetry, lease, login and snapshot rules (`watch.rules.*` in the config,
 * docs/watch.md → Configuration). Durations in ms.
 */
export interface WatchRuleSettings {
  /** memory-high: vault.runtime.alloc_bytes / sys_bytes above this (the memory runbook's threshold). */
  memoryRatio: number;
  /** lease-count-growth: the window over which vault.expire.num_leases growth is measured. */
  leaseGrowthWithinMs: number;
  /** … fires when the growth is at least this many leases … */
  leaseGrowthMin: number;
  /** … and more than this fraction of the lowest count in the window (0.5: +50 %). */
  leaseGrowthFraction: number;
  /** audit-device-failures: the window over which the failure counters must not grow. */
  auditFailuresWithinMs: number;
  /** auth-failure-rate: the current window of failed logins. */
  authFailuresWithinMs: number;
  /** … the longer window before it that sets the baseline rate. */
  authFailuresBaselineMs: number;
  /** … fires when the current window holds at least this many failed logins … */
  authFailuresMin: number;
  /** … and more than this many times the baseline rate (per window). */
  authFailuresFactor: number;
  /** snapshot-stale: the newest verified snapshot may be this old (the backup schedule); off when undefined. */
  snapshotMaxAgeMs: number | undefined;
}

export const DEFAULT_RULE_SETTINGS: WatchRuleSettings = Object.freeze({
  memoryRatio: DEFAULT_MEMORY_RATIO,
  leaseGrowthWithinMs: 10 * 60_000,
  leaseGrowthMin: 1_000,
  leaseGrowthFraction: 0.5,
  auditFailuresWithinMs: 10 * 60_000,
  authFailuresWithinMs: 5 * 60_000,
  authFailuresBaselineMs: 60 * 60_000,
  authFailuresMin: 20,
  authFailuresFactor: 3,
  snapshotMaxAgeMs: undefined,
});

/** The config's `watch.rules` keys (as the schema checked them), missing ones at their defaults. */
export function ruleSettings(
  rules: {
    memory_ratio?: number | undefined;
    lease_growth_within?: string | undefined;
    lease_growth_min?: number | undefined;
    lease_growth_fraction?: number | undefined;
    audit_failures_within?: string | undefined;
    auth_failures_within?: string | undefined;
    auth_failures_baseline?: string | undefined;
    auth_failures_min?: number | undefined;
    auth_failures_factor?: number | undefined;
    snapshot_max_age?: string | undefined;
  },
  defaults: WatchRuleSettings = DEFAULT_RULE_SETTINGS,
): WatchRuleSettings {
  const ms = (text: string | undefined) => (text === undefined ? undefined : parseDuration(text));
  return {
    memoryRatio: rules.memory_ratio ?? defaults.memoryRatio,
    leaseGrowthWithinMs: ms(rules.lease_growth_within) ?? defaults.leaseGrowthWithinMs,
    leaseGrowthMin: rules.lease_growth_min ?? defaults.leaseGrowthMin,
    leaseGrowthFraction: rules.lease_growth_fraction ?? defaults.leaseGrowthFraction,
    auditFailuresWithinMs: ms(rules.audit_failures_within) ?? defaults.auditFailuresWithinMs,
    authFailuresWithinMs: ms(rules.auth_failures_within) ?? defaults.authFailuresWithinMs,
    authFailuresBaselineMs: ms(rules.auth_failures_baseline) ?? defaults.authFailuresBaselineMs,
    authFailuresMin: rules.auth_failures_min ?? defaults.authFailuresMin,
    authFailuresFactor: rules.auth_failures_factor ?? defaults.authFailuresFactor,
    snapshotMaxAgeMs: ms(rules.snapshot_max_age) ?? defaults.snapshotMaxAgeMs,
  };
}
