import type { AlertJson } from '../alert-json.js';
import type { NoticeKind } from '../../store/repositories/alerts.repository.js';
import { alertsOf, type AlertChannel, type DeliveryResult } from './channel.js';
import { hostOf, postJson } from './post-json.js';

/** PagerDuty's severities: critical, error, warning, info. */
const PAGERDUTY_SEVERITY: Readonly<Record<string, 'critical' | 'error' | 'warning' | 'info'>> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
  info: 'info',
};

/**
 * PagerDuty Events API v2: a trigger when an alert fires, a resolve when it resolves, both with
 * dedup_key = the alert's fingerprint so PagerDuty folds repeats into one incident. A grouped
 * message is one event per alert (the Events API takes one per request), in order; a failure stops
 * there and the retry sends them all again, which PagerDuty folds by dedup_key.
 */
export function pagerdutyChannel(options: {
  name: string;
  url: string;
  routingKey: string;
  timeoutMs: number;
}): AlertChannel {
  const where = `pagerduty ${hostOf(options.url)}`;
  return {
    name: options.name,
    send: async (notice) => {
      for (const alert of alertsOf(notice)) {
        const result = await postJson(options.url, event(notice.kind, alert), {
          timeoutMs: options.timeoutMs,
          where,
        });
        if (!result.ok) return result;
      }
      return { ok: true } satisfies DeliveryResult;
    },
    close: () => undefined,
  };

  function event(kind: NoticeKind, a: AlertJson) {
    return kind === 'firing'
      ? {
          routing_key: options.routingKey,
          event_action: 'trigger',
          dedup_key: a.fingerprint,
          payload: {
            summary: `${a.rule}: ${a.summary}`.slice(0, 1024),
            source: a.labels['node'] ?? 'sealwatch',
            severity: PAGERDUTY_SEVERITY[a.severity] ?? 'error',
            timestamp: a.fired_at ?? a.started_at,
            component: a.rule,
            group: 'sealwatch',
            custom_details: a,
          },
        }
      : { routing_key: options.routingKey, event_action: 'resolve', dedup_key: a.fingerprint };
  }
}
