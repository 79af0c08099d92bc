import { createWebhookChannel } from '../../notify/channels.js';
import type { AlertChannel } from './channel.js';

/**
 * A generic webhook, signed like tenant notices (x-sealwatch-signature: HMAC-SHA256 of
 * "<timestamp>.<body>", x-sealwatch-timestamp, idempotency-key = the notice id).
 * Body: {"version":1,"kind":"firing"|"resolved","alert":<alert JSON>}.
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
        JSON.stringify({ version: 1, kind: notice.kind, alert: notice.alert }),
        notice.id,
      ),
    close: () => undefined,
  };
}
