import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { NotifyConfig } from '../config/notify.schema.js';
import { readCredential } from '../config/credential.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Store } from '../store/store.js';
import type {
  NotificationChannel,
  NotificationState,
} from '../store/repositories/notification.repository.js';
import {
  createEmailChannel,
  createWebhookChannel,
  type DeliveryResult,
  type EmailChannel,
  type WebhookChannel,
} from './channels.js';
import { loadTemplates, renderNotice, type NoticeVariables } from './templates.js';

/** One tenant's notice: where it goes and what it says. */
export interface TenantNotice {
  tenant: string;
  /** The tenant's contact address (profile `contact_email`); undefined → the email delivery fails. */
  email: string | undefined;
  /** The tenant's webhook URL (template or profile field); undefined → the webhook delivery fails. */
  webhookUrl: string | undefined;
  values: NoticeVariables;
  /** The webhook's JSON body: the same facts as the email, for machines. */
  payload: Record<string, unknown>;
}

export interface DeliveryReport {
  tenant: string;
  channel: NotificationChannel;
  state: NotificationState;
  attempts: number;
  error: string | null;
  /** True when it had been sent by an earlier run and was left alone. */
  earlier: boolean;
}

export interface NotifyResult {
  sent: number;
  failed: number;
  deliveries: DeliveryReport[];
}

export interface NotifierDeps {
  store: Pick<Store, 'notifications'>;
  config: NotifyConfig;
  logger: Logger;
  env?: Readonly<Record<string, string | undefined>>;
}

/** Deterministic per incident and tenant: the receiver's key for dropping a copy. */
export function noticeKey(incidentId: string, tenant: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${clean(incidentId)}.${clean(tenant)}`;
}

export const messageIdOf = (incidentId: string, tenant: string) =>
  `<${noticeKey(incidentId, tenant)}@sealwatch>`;

/**
 * Sends each tenant ONE notice per configured channel and records every delivery in the store
 * (pending → sending → sent | failed). A row already `sent` is never sent again; one left in
 * `sending` by a crash is sent again with the same Message-ID / Idempotency-Key so the receiver can
 * drop the copy. Failures are retried with exponential backoff, then recorded with their reason;
 * one tenant's failure never stops the others.
 */
export function createNotifier(deps: NotifierDeps) {
  const { config, store } = deps;
  const env = deps.env ?? process.env;
  const templates = loadTemplates(config.templates_dir);

  const channels = (): { email?: EmailChannel; webhook?: WebhookChannel } => ({
    ...(config.smtp
      ? {
          email: createEmailChannel(
            config.smtp,
            config.from,
            config.smtp.auth
              ? readCredential(config.smtp.auth.password, 'notify.smtp.auth.password', env)
              : undefined,
          ),
        }
      : {}),
    ...(config.webhooks
      ? {
          webhook: createWebhookChannel(
            config.webhooks.timeout_ms,
            readCredential(config.webhooks.signing_key, 'notify.webhooks.signing_key', env),
          ),
        }
      : {}),
  });

  async function deliver(
    incidentId: string,
    notices: readonly TenantNotice[],
    onProgress: (message: string) => void = () => undefined,
  ): Promise<NotifyResult> {
    const open = channels();
    const limit = pLimit(4);
    const jobs: Promise<DeliveryReport>[] = [];
    try {
      for (const notice of notices) {
        const key = noticeKey(incidentId, notice.tenant);
        if (open.email) {
          const email = open.email;
          const rendered = renderNotice(templates, notice.values);
          jobs.push(
            limit(() =>
              attempt(incidentId, notice.tenant, 'email', notice.email ?? null, () =>
                notice.email
                  ? email.send({
                      ...rendered,
                      to: notice.email,
                      messageId: messageIdOf(incidentId, notice.tenant),
                    })
                  : Promise.resolve<DeliveryResult>({
                      ok: false,
                      error: 'the tenant profile has no contact_email',
                      retryable: false,
                    }),
              ),
            ),
          );
        }
        if (open.webhook) {
          const webhook = open.webhook;
          const body = JSON.stringify(notice.payload);
          jobs.push(
            limit(() =>
              attempt(incidentId, notice.tenant, 'webhook', notice.webhookUrl ?? null, () =>
                notice.webhookUrl
                  ? webhook.send(notice.webhookUrl, body, key)
                  : Promise.resolve<DeliveryResult>({
                      ok: false,
                      error: `the tenant profile has no ${config.webhooks?.url_field ?? 'webhook URL'}`,
                      retryable: false,
                    }),
              ),
            ),
          );
        }
      }
      const deliveries = await Promise.all(jobs);
      for (const d of deliveries)
        onProgress(
          `${d.tenant} ${d.channel}: ${d.state}${d.earlier ? ' (earlier run)' : ''}${d.error ? ` — ${d.error}` : ''}`,
        );
      return {
        sent: deliveries.filter((d) => d.state === 'sent').length,
        failed: deliveries.filter((d) => d.state === 'failed').length,
        deliveries,
      };
    } finally {
      open.email?.close();
    }
  }

  async function attempt(
    incidentId: string,
    tenant: string,
    channel: NotificationChannel,
    recipient: string | null,
    send: () => Promise<DeliveryResult>,
  ): Promise<DeliveryReport> {
    const row = await store.notifications.open({
      incident_id: incidentId,
      tenant,
      channel,
      recipient,
      message_id: messageIdOf(incidentId, tenant),
    });
    if (row.state === 'sent')
      return { tenant, channel, state: 'sent', attempts: row.attempts, error: null, earlier: true };
    if (row.state === 'sending')
      deps.logger.warn(
        { incident: incidentId, tenant, channel },
        'notice was mid-send when a run stopped: sending it again with the same id',
      );
    let attempts = row.attempts;
    let lastError = 'not attempted';
    const max = config.retries.attempts;
    for (let i = 0; i < max; i++) {
      attempts += 1;
      await store.notifications.beginAttempt(row.id, attempts, recipient);
      let result: DeliveryResult;
      try {
        result = await send();
      } catch (error) {
        result = { ok: false, error: errorMessage(error), retryable: true };
      }
      if (result.ok) {
        await store.notifications.markSent(row.id);
        deps.logger.info({ incident: incidentId, tenant, channel, attempts }, 'notice sent');
        return { tenant, channel, state: 'sent', attempts, error: null, earlier: false };
      }
      lastError = result.error;
      const final = !result.retryable || i === max - 1;
      await store.notifications.markError(row.id, final ? 'failed' : 'pending', lastError);
      deps.logger.warn(
        { incident: incidentId, tenant, channel, attempts, error: lastError },
        'notice not delivered',
      );
      if (final) break;
      await sleep(config.retries.backoff_ms * 2 ** i);
    }
    return { tenant, channel, state: 'failed', attempts, error: lastError, earlier: false };
  }

  return { deliver };
}

export type Notifier = ReturnType<typeof createNotifier>;
