import type { DeliveryResult } from '../../notify/channels.js';
import type { NoticeKind } from '../../store/repositories/alerts.repository.js';
import type { AlertJson } from '../alert-json.js';

export type { DeliveryResult };

/** One notice: an alert fired (or fires still, on repeat) or resolved. */
export interface AlertNotice {
  kind: NoticeKind;
  alert: AlertJson;
  /** Stable per notice across retries and restarts: receivers deduplicate on it. */
  id: string;
}

/**
 * A notification channel. `send` never throws: it answers whether the notice left and, if not,
 * whether retrying can help; it gives up after its own timeout.
 */
export interface AlertChannel {
  readonly name: string;
  send(notice: AlertNotice): Promise<DeliveryResult>;
  close(): void;
}

/** "[FIRING] critical node-sealed: http://… is sealed" — the one line every channel leads with. */
export function headline(notice: AlertNotice): string {
  const a = notice.alert;
  return `[${notice.kind === 'firing' ? 'FIRING' : 'RESOLVED'}] ${a.severity} ${a.rule}: ${a.summary}`;
}

/** The runbook line of a notice, if the rule has one. */
export function runbookLine(alert: AlertJson): string | undefined {
  return alert.runbook ? `diagnose: sealwatch runbook diagnose ${alert.runbook}` : undefined;
}
