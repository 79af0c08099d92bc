import { z } from 'zod';
import { credentialRefSchema, type CredentialRef } from './rotation.schema.js';

/**
 * `notify`: how tenant notices leave sealwatch. Email goes through an SMTP relay to each tenant's
 * contact address (tenant profile); webhooks are signed with HMAC-SHA256. Secrets are references
 * ({file} or {env}), never values, and have no defaults.
 */
export const notifySchema = z.strictObject({
  /** The From of every notice, e.g. "Security <security@example.com>". */
  from: z.string().min(3),
  smtp: z
    .strictObject({
      host: z.string().min(1),
      port: z.int().min(1).max(65535).default(587),
      /** TLS from the first byte (port 465). */
      secure: z.boolean().default(false),
      /** STARTTLS on a plain connection: required, opportunistic, or none (loopback catchers). */
      starttls: z.enum(['required', 'opportunistic', 'none']).default('required'),
      auth: z.strictObject({ user: z.string().min(1), password: credentialRefSchema }).optional(),
      timeout_ms: z.int().min(100).max(120_000).default(15_000),
    })
    .optional(),
  webhooks: z
    .strictObject({
      /** A URL template: {tenant} is replaced by the tenant id. */
      url: z.string().min(1).optional(),
      /** Or a field of the tenant profile holding the tenant's own webhook URL. */
      url_field: z.string().min(1).optional(),
      signing_key: credentialRefSchema,
      timeout_ms: z.int().min(100).max(120_000).default(10_000),
    })
    .refine((w) => w.url !== undefined || w.url_field !== undefined, 'give url or url_field')
    .optional(),
  /** A directory with notice.subject.txt, notice.text.txt and notice.html overriding the shipped ones. */
  templates_dir: z.string().min(1).optional(),
  /** The KV path (CLI form) of a tenant's profile; {tenant} is replaced. */
  profile_path: z.string().min(1).default('secret/tenants/{tenant}/profile'),
  retries: z
    .strictObject({
      attempts: z.int().min(1).max(20).default(3),
      backoff_ms: z.int().min(0).max(600_000).default(1_000),
    })
    .default({ attempts: 3, backoff_ms: 1_000 }),
});

export type NotifyConfigFile = z.infer<typeof notifySchema>;

/** The resolved notify settings (file paths absolute). */
export type NotifyConfig = Readonly<NotifyConfigFile>;

export function resolveNotifyPaths(
  notify: NotifyConfigFile,
  relative: (path: string) => string,
): NotifyConfig {
  const ref = (r: CredentialRef): CredentialRef => ('file' in r ? { file: relative(r.file) } : r);
  return {
    ...notify,
    ...(notify.templates_dir ? { templates_dir: relative(notify.templates_dir) } : {}),
    ...(notify.smtp?.auth
      ? { smtp: { ...notify.smtp, auth: { ...notify.smtp.auth, password: ref(notify.smtp.auth.password) } } }
      : {}),
    ...(notify.webhooks
      ? { webhooks: { ...notify.webhooks, signing_key: ref(notify.webhooks.signing_key) } }
      : {}),
  };
}
