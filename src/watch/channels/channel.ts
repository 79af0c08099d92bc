import type { DeliveryResult } from '../../notify/channels.js';
import type { NoticeKind } from '../../store/repositories/alerts.repository.js';
import type { AlertJson } from '../alert-json.js';

export type { DeliveryResult };

/** One notice: an alert fired (or fires still, on repeat) or resolved. */
export interface AlertNotice {
  kind: NoticeKind;
  alert: AlertJson;
  /**
   * Every alert of the message when notices of one group leave together (`alert` is the first of
   * them); absent or of one element for a single notice.
   */
  alerts?: readonly AlertJson[];
  /** Stable per notice across retries and restarts: receivers deduplicate on it. */
  id: string;
}

/** The alerts a notice tells: its group, or its one alert. */
export const alertsOf = (notice: AlertNotice): readonly AlertJson[] =>
  notice.alerts && notice.alerts.length > 0 ? notice.alerts : [notice.alert];

/**
 * A notification channel. `send` never throws: it answers whether the notice left and, if not,
 * whether retrying can help; it gives up after its own timeout.
 */
export interface AlertChannel {
  readonly name: string;
  send(notice: AlertNotice): Promise<DeliveryResult>;
  close(): void;
}

/**
 * "[FIRING] critical node-sealed: http://… is sealed" — the one line every channel leads with; for a
 * group, "[FIRING] 3 alerts: critical node-sealed (2), critical no-leader".
 */
export function headline(notice: AlertNotice): string {
  const tag = `[${notice.kind === 'firing' ? 'FIRING' : 'RESOLVED'}]`;
  const alerts = alertsOf(notice);
  if (alerts.length === 1) {
    const a = alerts[0]!;
    return `${tag} ${a.severity} ${a.rule}: ${a.summary}`;
  }
  const counts = new Map<string, number>();
  for (const a of alerts)
    counts.set(`${a.severity} ${a.rule}`, (counts.get(`${a.severity} ${a.rule}`) ?? 0) + 1);
  const parts = [...counts].map(([what, n]) => (n > 1 ? `${what} (${n})` : what));
  return `${tag} ${alerts.length} alerts: ${parts.join(', ')}`;
}

/** The runbook line of a notice, if the rule has one. */
export function runbookLine(alert: AlertJson): string | undefined {
  return alert.runbook ? `diagnose: sealwatch runbook diagnose ${alert.runbook}` : undefined;
}
