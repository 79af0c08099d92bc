import { createWebhookChannel } from '../../notify/channels.js';
import { alertsOf, type AlertChannel } from './channel.js';

/**
 * A generic webhook, signed like tenant notices (x-sealwatch-signature: HMAC-SHA256 of
 * "<timestamp>.<body>", x-sealwatch-timestamp, idempotency-key = the notice id).
 * Body: {"version":1,"kind":"firing"|"resolved","alert":<alert JSON>,"alerts":[<alert JSON>…]}
 * (`alerts`: every alert of the message, `alert` its first).
 */
export function webhookChannel(options: {
  name: string;
  url: string;
  signingKey: string;
  timeoutMs: number;
}): AlertChannel {
  const webhook = createWebhookChannel(options.timeoutMs, options.signingKey);
  return {
    name: options.name,
    send: (notice) =>
      webhook.send(
        options.url,
        JSON.stringify({ version: 1, kind: notice.kind, alert: notice.alert, alerts: alertsOf(notice) }),
        notice.id,
      ),
    close: () => undefined,
  };
}
