import { createHash } from 'node:crypto';
import type { AlertRecord, NewOutboxEntry, Silence } from '../store/repositories/alerts.repository.js';
import type { AlertCondition, AlertRule } from './alert-rule.js';
import { toAlertJson } from './alert-json.js';

/** Rule id plus sorted labels: the same problem on the same node is the same alert across restarts. */
export function fingerprint(rule: string, labels: Readonly<Record<string, string>>): string {
  const text = [
    rule,
    ...Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`),
  ].join('\u0000');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** A silence matches when every matcher equals the alert's label (`rule` matches the rule id). */
export function silenceMatches(silence: Silence, alert: Pick<AlertRecord, 'rule' | 'labels'>): boolean {
  const labels: Record<string, string> = { ...alert.labels, rule: alert.rule };
  return Object.entries(silence.matchers).every(([k, v]) => labels[k] === v);
}

export interface LifecycleInput {
  rules: readonly AlertRule[];
  /** Each rule's conditions this cycle; undefined where the rule could not look. */
  results: ReadonlyMap<string, readonly AlertCondition[] | undefined>;
  /** Pending and firing alerts from the store. */
  active: readonly AlertRecord[];
  silences: readonly Silence[];
  now: Date;
  repeatMs: number;
  /** Channel names: every notice is queued once per channel. */
  channels: readonly string[];
  /** `--once`: one cycle cannot wait out a for-duration, so conditions fire at once. */
  ignoreFor?: boolean;
  /** Labels (`rule` and `severity` included) whose values make a notice group; none: every notice alone. */
  groupBy?: readonly string[];
}

export interface LifecycleOutput {
  /** Alerts whose row changes (written with the notices, in one transaction). */
  changed: AlertRecord[];
  notices: NewOutboxEntry[];
}

/**
 * Alertmanager's lifecycle as pure code: a condition starts pending, fires once it has held for the
 * rule's for-duration, resolves when the rule (having looked) no longer sees it. A firing alert is
 * notified once, again after the repeat interval unless acknowledged, and a resolve notice follows
 * one that was notified; silenced alerts are not notified. What was notified is part of the row,
 * so a restart repeats nothing.
 */
export function advanceAlerts(input: LifecycleInput): LifecycleOutput {
  const now = input.now.toISOString();
  const byFingerprint = new Map(input.active.map((a) => [a.fingerprint, a]));
  const changed: AlertRecord[] = [];
  for (const rule of input.rules) {
    const conditions = input.results.get(rule.id);
    if (conditions === undefined) continue;
    const seen = new Set<string>();
    for (const condition of conditions) {
      const fp = fingerprint(rule.id, condition.labels);
      if (seen.has(fp)) continue;
      seen.add(fp);
      const previous = byFingerprint.get(fp);
      const alert: AlertRecord = previous
        ? { ...previous, summary: condition.summary, last_seen_at: now }
        : openAlert(
            {
              fingerprint: fp,
              rule: rule.id,
              severity: rule.severity,
              labels: { ...condition.labels },
              summary: condition.summary,
              runbook: rule.runbook,
            },
            'pending',
            now,
          );
      if (
        alert.state === 'pending' &&
        (input.ignoreFor || input.now.getTime() - Date.parse(alert.started_at) >= rule.forMs)
      ) {
        alert.state = 'firing';
        alert.fired_at = now;
      }
      changed.push(alert);
    }
    for (const previous of input.active)
      if (previous.rule === rule.id && !seen.has(previous.fingerprint))
        changed.push({ ...previous, state: 'resolved', resolved_at: now });
  }

  const notices = queueNotices(changed, {
    silences: input.silences,
    now: input.now,
    repeatMs: input.repeatMs,
    channels: input.channels,
    groupBy: input.groupBy,
  });
  return { changed, notices };
}

/** `firing|rule=node-sealed`: the kind and the group_by labels' values (a missing label is empty). */
export function groupKey(
  kind: string,
  alert: Pick<AlertRecord, 'rule' | 'severity' | 'labels'>,
  groupBy: readonly string[],
): string {
  const labels: Record<string, string> = { ...alert.labels, rule: alert.rule, severity: alert.severity };
  return [kind, ...groupBy.map((l) => `${l}=${labels[l] ?? ''}`)].join('|');
}

/** A new alert's record, pending or already firing at `at`: nothing notified, acknowledged or silenced yet. */
export function openAlert(
  what: Pick<AlertRecord, 'fingerprint' | 'rule' | 'severity' | 'labels' | 'summary' | 'runbook'>,
  state: 'pending' | 'firing',
  at: string,
): AlertRecord {
  return {
    fingerprint: what.fingerprint,
    rule: what.rule,
    severity: what.severity,
    state,
    labels: what.labels,
    summary: what.summary,
    runbook: what.runbook,
    started_at: at,
    fired_at: state === 'firing' ? at : null,
    resolved_at: null,
    last_seen_at: at,
    last_notified_at: null,
    notified_state: null,
    acked_by: null,
    acked_at: null,
    silenced_by: null,
  };
}

/**
 * The notices these changed alerts call for, one per channel: a firing not yet told (or due again
 * after `repeatMs`, unless acknowledged), a resolve after a told firing; none while silenced
 * (`silenced_by` is set then). Marks each told alert's `notified_state` and `last_notified_at`.
 */
export function queueNotices(
  alerts: readonly AlertRecord[],
  options: {
    silences: readonly Silence[];
    now: Date;
    repeatMs: number;
    channels: readonly string[];
    groupBy?: readonly string[] | undefined;
  },
): NewOutboxEntry[] {
  const now = options.now.toISOString();
  const notices: NewOutboxEntry[] = [];
  for (const alert of alerts) {
    const silence = options.silences.find((s) => silenceMatches(s, alert));
    alert.silenced_by = silence ? `${silence.id} (${silence.author})` : null;
    if (silence) continue;
    const kind =
      alert.state === 'firing' &&
      (alert.notified_state !== 'firing' ||
        (!alert.acked_by &&
          alert.last_notified_at !== null &&
          options.now.getTime() - Date.parse(alert.last_notified_at) >= options.repeatMs))
        ? 'firing'
        : alert.state === 'resolved' && alert.notified_state === 'firing'
          ? 'resolved'
          : undefined;
    if (!kind) continue;
    alert.notified_state = kind;
    alert.last_notified_at = now;
    const payload = { ...toAlertJson(alert) };
    for (const channel of options.channels)
      notices.push({
        fingerprint: alert.fingerprint,
        channel,
        kind,
        payload,
        group_key: options.groupBy ? groupKey(kind, alert, options.groupBy) : null,
      });
  }
  return notices;
}
