import { z } from 'zod';
import { ALERT_STATES, type AlertRecord } from '../store/repositories/alerts.repository.js';

/**
 * The stable alert JSON (docs/json-contracts.md → alerts): `alerts list|show --json`, notice
 * payloads, and what the web console will serve. Keys in this order; add, never rename.
 */
export interface AlertJson {
  fingerprint: string;
  rule: string;
  severity: string;
  state: AlertRecord['state'];
  labels: Record<string, string>;
  summary: string;
  runbook: string | null;
  started_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  last_notified_at: string | null;
  acked_by: string | null;
  silenced_by: string | null;
}

export function toAlertJson(a: AlertRecord): AlertJson {
  return {
    fingerprint: a.fingerprint,
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    labels: a.labels,
    summary: a.summary,
    runbook: a.runbook,
    started_at: a.started_at,
    fired_at: a.fired_at,
    resolved_at: a.resolved_at,
    last_notified_at: a.last_notified_at,
    acked_by: a.acked_by,
    silenced_by: a.silenced_by,
  };
}

/** The same shape parsed back (an outbox payload written by an earlier run). */
export const alertJsonSchema = z.object({
  fingerprint: z.string(),
  rule: z.string(),
  severity: z.string(),
  state: z.enum(ALERT_STATES),
  labels: z.record(z.string(), z.string()),
  summary: z.string(),
  runbook: z.string().nullable(),
  started_at: z.string(),
  fired_at: z.string().nullable(),
  resolved_at: z.string().nullable(),
  last_notified_at: z.string().nullable(),
  acked_by: z.string().nullable(),
  silenced_by: z.string().nullable(),
});
