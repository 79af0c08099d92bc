import type { AlertRule } from '../alert-rule.js';
import { auditDeviceFailuresAlert } from './audit-device-failures.alert.js';
import { autopilotUnhealthyAlert } from './autopilot-unhealthy.alert.js';
import { failureToleranceZeroAlert } from './failure-tolerance-zero.alert.js';
import { listenerCertExpiryAlert } from './listener-cert-expiry.alert.js';
import { leaderFlappingAlert } from './leader-flapping.alert.js';
import { noLeaderAlert } from './no-leader.alert.js';
import { nodeSealedAlert } from './node-sealed.alert.js';
import { nodeUnreachableAlert } from './node-unreachable.alert.js';
import { watchAuditSocketDownAlert } from './watch-audit-socket-down.alert.js';
import { watchNotifierFailingAlert } from './watch-notifier-failing.alert.js';
import { watchStoreUnreachableAlert } from './watch-store-unreachable.alert.js';
import { memoryHighAlert } from './memory-high.alert.js';
import { leaseCountGrowthAlert } from './lease-count-growth.alert.js';
import { authFailureRateAlert } from './auth-failure-rate.alert.js';
import { snapshotStaleAlert } from './snapshot-stale.alert.js';

/** Every alert rule by id. Adding one is one file here and one line below. */
export const ALERT_RULES = {
  'node-sealed': nodeSealedAlert,
  'node-unreachable': nodeUnreachableAlert,
  'no-leader': noLeaderAlert,
  'leader-flapping': leaderFlappingAlert,
  'autopilot-unhealthy': autopilotUnhealthyAlert,
  'failure-tolerance-zero': failureToleranceZeroAlert,
  'audit-device-failures': auditDeviceFailuresAlert,
  'listener-cert-expires-30d': listenerCertExpiryAlert(30, 'low'),
  'listener-cert-expires-14d': listenerCertExpiryAlert(14, 'medium'),
  'listener-cert-expires-7d': listenerCertExpiryAlert(7, 'high'),
  'watch-audit-socket-down': watchAuditSocketDownAlert,
  'watch-store-unreachable': watchStoreUnreachableAlert,
  'watch-notifier-failing': watchNotifierFailingAlert,
  'memory-high': memoryHighAlert,
  'lease-count-growth': leaseCountGrowthAlert,
  'auth-failure-rate': authFailureRateAlert,
  'snapshot-stale': snapshotStaleAlert,
} satisfies Record<string, AlertRule>;

export type AlertRuleId = keyof typeof ALERT_RULES;

/** The rules in registry order (each entry's key is its rule's id; alerts/registry.test.ts checks it). */
export const ALERT_RULE_LIST: readonly AlertRule[] = Object.values(ALERT_RULES);
