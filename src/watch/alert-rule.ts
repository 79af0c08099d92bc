import type { FindingSeverity } from '../runbooks/finding.js';
import type { RUNBOOKS } from '../runbooks/registry.js';
import type { WatchRuleSettings } from './rule-settings.js';
import type { ClusterSample } from './sample.js';

/** One thing wrong now: the labels that tell it apart and a sentence for the on-call. */
export interface AlertCondition {
  labels: Readonly<Record<string, string>>;
  summary: string;
}

/** What a rule may know beyond one sample: history kept by watch across cycles. */
export interface RuleContext {
  /** Leader changes seen within the last `withinMs`. */
  leaderChanges(withinMs: number): number;
  /** Audit failure counters' increase over the last `withinMs` (0 with too little history). */
  auditFailureIncrease(withinMs: number): { request: number; response: number } | undefined;
  thresholds: { leaderChangesMax: number; leaderChangesWithinMs: number };
  /** Thresholds of the telemetry, lease, login and snapshot rules (rule-settings.ts). */
  settings: WatchRuleSettings;
  /**
   * vault.expire.num_leases within the last `withinMs`: the lowest count seen and the latest
   * (undefined with fewer than two readings in the window).
   */
  leaseGrowth(withinMs: number): { lowest: number; latest: number } | undefined;
}

/**
 * An alert rule: its conditions in a sample. `undefined` means the rule could not look (no leader
 * to ask, a read refused): its alerts keep their state instead of being resolved by a blind check.
 */
export interface AlertRule {
  id: string;
  severity: FindingSeverity;
  /** How long a condition must hold before it fires (pending until then). */
  forMs: number;
  /** `sealwatch runbook diagnose NAME` diagnoses it; null for watch's own faults. */
  runbook: keyof typeof RUNBOOKS | null;
  description: string;
  evaluate(sample: ClusterSample, context: RuleContext): readonly AlertCondition[] | undefined;
}
