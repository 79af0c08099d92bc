import { createHmac } from 'node:crypto';
import { createTransport, type Transporter } from 'nodemailer';
import type { NotifyConfig } from '../config/notify.schema.js';
import { errorMessage, systemErrorCode } from '../errors.js';
import { redactText, registerSecret } from '../logging/redactor.js';
import type { RenderedNotice } from './templates.js';

/** What one channel answers for one notice: sent, or why not and whether retrying can help. */
export type DeliveryResult = { ok: true } | { ok: false; error: string; retryable: boolean };

export interface EmailNotice extends RenderedNotice {
  to: string;
  messageId: string;
}

export interface EmailChannel {
  send(notice: EmailNotice): Promise<DeliveryResult>;
  close(): void;
}

export function createEmailChannel(
  smtp: NonNullable<NotifyConfig['smtp']>,
  from: string,
  password: string | undefined,
): EmailChannel {
  registerSecret(password);
  const transport: Transporter = createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: !smtp.secure && smtp.starttls === 'required',
    ignoreTLS: !smtp.secure && smtp.starttls === 'none',
    ...(smtp.auth && password !== undefined ? { auth: { user: smtp.auth.user, pass: password } } : {}),
    connectionTimeout: smtp.timeout_ms,
    greetingTimeout: smtp.timeout_ms,
    socketTimeout: smtp.timeout_ms,
    logger: false,
  });
  return {
    async send(notice) {
      try {
        await transport.sendMail({
          from,
          to: notice.to,
          // A notice leaves the process: the last boundary before a tenant reads it.
          subject: redactText(notice.subject),
          text: redactText(notice.text),
          html: redactText(notice.html),
          messageId: notice.messageId,
        });
        return { ok: true };
      } catch (error) {
        const e = error as { code?: string; responseCode?: number; response?: string };
        // 5xx replies and refused logins do not heal by themselves; connection trouble may.
        const permanent = e.code === 'EAUTH' || (e.responseCode !== undefined && e.responseCode >= 500);
        const reason = e.response
          ? `${e.code ?? 'SMTP'}: ${e.response}`
          : `${e.code ?? 'SMTP'}: ${errorMessage(error)}`;
        return {
          ok: false,
          error: redactText(`SMTP ${smtp.host}:${smtp.port} ${reason}`.replace(/\s+/g, ' ')),
          retryable: !permanent,
        };
      }
    },
    close: () => transport.close(),
  };
}

export const SIGNATURE_HEADER = 'x-sealwatch-signature';
export const TIMESTAMP_HEADER = 'x-sealwatch-timestamp';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: a receiver recomputes it and checks the age. */
export function signWebhook(key: string, timestamp: number, body: string): string {
  return 'sha256=' + createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex');
}

export interface WebhookChannel {
  send(url: string, body: string, idempotencyKey: string): Promise<DeliveryResult>;
}

export function createWebhookChannel(timeoutMs: number, signingKey: string): WebhookChannel {
  registerSecret(signingKey);
  return {
    async send(url, raw, idempotencyKey) {
      // A notice leaves the process: the last boundary before a tenant reads it.
      const body = redactText(raw);
      const timestamp = Math.floor(Date.now() / 1000);
      const where = redactUrl(url);
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [TIMESTAMP_HEADER]: String(timestamp),
            [SIGNATURE_HEADER]: signWebhook(signingKey, timestamp, body),
            [IDEMPOTENCY_HEADER]: idempotencyKey,
            'user-agent': 'sealwatch',
          },
          body,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
        // The body is drained only to free the connection; the status decides the outcome.
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return { ok: true };
        return {
          ok: false,
          error: `webhook ${where} answered HTTP ${res.status}`,
          retryable: res.status >= 500 || res.status === 408 || res.status === 429,
        };
      } catch (error) {
        const name = error instanceof Error ? error.name : '';
        if (name === 'TimeoutError' || name === 'AbortError')
          return { ok: false, error: `webhook ${where} timed out after ${timeoutMs} ms`, retryable: true };
        const cause = error instanceof Error ? systemErrorCode(error.cause) : undefined;
        return {
          ok: false,
          error: `webhook ${where} unreachable: ${redactText(cause ?? errorMessage(error))}`,
          retryable: true,
        };
      }
    },
  };
}

/** The URL without credentials or query (tokens often ride there). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    // Only names the destination in a message; the URL itself was validated with the configuration.
    return '(invalid URL)';
  }
}
