import { z } from 'zod';
import { credentialRefSchema, type CredentialRef } from './rotation.schema.js';

const durationSchema = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 30s, 5m, 24h or 7d');

const retriesSchema = z
  .strictObject({
    attempts: z.int().min(1).max(20).default(5),
    backoff_ms: z.int().min(0).max(600_000).default(1_000),
  })
  .default({ attempts: 5, backoff_ms: 1_000 });

const common = {
  /** The channel's name in metrics, logs and the outbox; defaults to its kind. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/)
    .optional(),
  timeout_ms: z.int().min(100).max(120_000).default(10_000),
  retries: retriesSchema,
  /** At most this many messages a minute; notices beyond it wait in the outbox (never dropped). */
  rate_limit_per_minute: z.int().min(1).max(10_000).optional(),
};

/**
 * Where alert notices go. Secrets (signing keys, Slack webhook URLs that carry their token,
 * PagerDuty routing keys, SMTP passwords) are credential references ({file} or {env}), never values.
 */
export const watchChannelSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/ }),
    signing_key: credentialRefSchema,
    ...common,
  }),
  z.strictObject({ kind: z.literal('slack'), url: credentialRefSchema, ...common }),
  z.strictObject({
    kind: z.literal('pagerduty'),
    url: z.url({ protocol: /^https?$/ }).default('https://events.pagerduty.com/v2/enqueue'),
    routing_key: credentialRefSchema,
    ...common,
  }),
  z.strictObject({
    kind: z.literal('email'),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1),
    smtp: z.strictObject({
      host: z.string().min(1),
      port: z.int().min(1).max(65535).default(587),
      secure: z.boolean().default(false),
      starttls: z.enum(['required', 'opportunistic', 'none']).default('required'),
      auth: z.strictObject({ user: z.string().min(1), password: credentialRefSchema }).optional(),
    }),
    ...common,
  }),
]);

/** What a detection rule may do by itself (docs/watch.md → Automatic response). */
export const AUTO_RESPONSE_ACTIONS = ['revoke-accessor', 'open-incident'] as const;

/** `watch`: the always-on monitor (docs/watch.md). */
export const watchSchema = z.strictObject({
  interval: durationSchema.default('5s'),
  listen: z.string().min(3).default('127.0.0.1:9464'),
  /** How long one node may take to answer a poll; a hanging node costs this, never a cycle. */
  node_timeout: durationSchema.default('2s'),
  /** A firing alert not acknowledged is notified again this often. */
  repeat_interval: durationSchema.default('4h'),
  audit_sockets: z.array(z.string().min(3)).default([]),
  audit_files: z.array(z.string().min(1)).default([]),
  /** TLS listeners (host:port) whose certificates are watched, beside every https:// vault address. */
  tls_listeners: z.array(z.string().regex(/^(\[[^\]]+\]|[^:/\s]+):\d{1,5}$/, 'host:port')).default([]),
  tls_probe_interval: durationSchema.default('10m'),
  rules: z
    .strictObject({
      /** Leader changes tolerated within `leader_changes_within` before leader-flapping fires. */
      leader_changes_max: z.int().min(0).default(3),
      leader_changes_within: durationSchema.default('10m'),
      /** Per-rule for-durations overriding the rule's own (`node-unreachable: 30s`). */
      for: z.record(z.string(), durationSchema).default({}),
      /** memory-high: heap in use over the memory held (the memory runbook's threshold, 0.8). */
      memory_ratio: z.number().gt(0).lte(1).optional(),
      /** lease-count-growth: growth of vault.expire.num_leases within the window (10m, 1000, 0.5). */
      lease_growth_within: durationSchema.optional(),
      lease_growth_min: z.int().min(1).optional(),
      lease_growth_fraction: z.number().min(0).optional(),
      /** audit-device-failures: the failure counters' window (10m). */
      audit_failures_within: durationSchema.optional(),
      /** auth-failure-rate: failed logins in the window vs the baseline window before it (5m, 1h, 20, 3). */
      auth_failures_within: durationSchema.optional(),
      auth_failures_baseline: durationSchema.optional(),
      auth_failures_min: z.int().min(1).optional(),
      auth_failures_factor: z.number().min(1).optional(),
      /** snapshot-stale: the backup schedule; the newest verified snapshot may be this old (off unless set). */
      snapshot_max_age: durationSchema.optional(),
    })
    .default({ leader_changes_max: 3, leader_changes_within: '10m', for: {} }),
  channels: z.array(watchChannelSchema).default([]),
  /** A live detection alert with no new finding for this long resolves (docs/watch.md). */
  detection_quiet: durationSchema.default('5m'),
  /**
   * Notices of one group (same kind and group_by label values) that are due together leave as one
   * message per channel; Alertmanager's group_wait and group_interval (docs/watch.md → Grouping).
   * Off when absent: every notice is a message of its own, as receivers reading `alert` expect.
   */
  grouping: z
    .strictObject({
      group_by: z.array(z.string().min(1)).default(['rule']),
      group_wait: durationSchema.default('0s'),
      group_interval: durationSchema.default('0s'),
    })
    .optional(),
  /**
   * Automatic response per detection rule, off unless the rule is named here:
   * `{ <rule-id>: revoke-accessor | open-incident }`.
   */
  auto_response: z.record(z.string().min(1), z.enum(AUTO_RESPONSE_ACTIONS)).default({}),
  /**
   * High availability (docs/watch.md → High availability): instances sharing a store compete for
   * one lease; its holder notifies and acts. A dead holder is replaced within about lease_ttl.
   */
  ha: z.strictObject({ lease_ttl: durationSchema.default('9s') }).default({ lease_ttl: '9s' }),
});

export type WatchConfigFile = z.infer<typeof watchSchema>;
export type WatchChannelConfig = z.infer<typeof watchChannelSchema>;

/** File references resolved against the config file's directory; audit files too. */
export function resolveWatchPaths(
  watch: WatchConfigFile,
  relative: (path: string) => string,
): WatchConfigFile {
  const ref = (r: CredentialRef): CredentialRef => ('file' in r ? { file: relative(r.file) } : r);
  return {
    ...watch,
    audit_files: watch.audit_files.map(relative),
    channels: watch.channels.map((c) => {
      switch (c.kind) {
        case 'webhook':
          return { ...c, signing_key: ref(c.signing_key) };
        case 'slack':
          return { ...c, url: ref(c.url) };
        case 'pagerduty':
          return { ...c, routing_key: ref(c.routing_key) };
        case 'email':
          return c.smtp.auth
            ? { ...c, smtp: { ...c.smtp, auth: { ...c.smtp.auth, password: ref(c.smtp.auth.password) } } }
            : c;
      }
    }),
  };
}
