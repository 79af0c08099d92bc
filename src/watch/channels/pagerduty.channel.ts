import type { AlertChannel } from './channel.js';
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
 * dedup_key = the alert's fingerprint so PagerDuty folds repeats into one incident.
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
    send: (notice) => {
      const a = notice.alert;
      const body =
        notice.kind === 'firing'
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
      return postJson(options.url, body, { timeoutMs: options.timeoutMs, where });
    },
    close: () => undefined,
  };
}
