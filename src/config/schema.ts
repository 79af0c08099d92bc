import { z } from 'zod';
import { parsePathTemplate } from './path-template.js';
import { notifySchema } from './notify.schema.js';
import { rotationSchema } from './rotation.schema.js';
import { watchSchema } from './watch.schema.js';
import { parseSuspect, type SuspectKind } from './suspect.js';

export const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Durations in config are written as humans write them: 30s, 5m, 24h, 7d. */
export const durationSchema = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 30s, 5m, 24h or 7d');

/** `KIND:VALUE[@SINCE..UNTIL]`, checked with the parser of `--suspect`; only `kinds` when given. */
const suspectSchema = (kinds?: readonly SuspectKind[]) =>
  z.string().superRefine((value, ctx) => {
    try {
      const kind = parseSuspect(value).kind;
      if (kinds && !kinds.includes(kind))
        ctx.addIssue({
          code: 'custom',
          message: `${value}: only ${kinds.map((k) => `${k}:`).join(' or ')} here`,
        });
    } catch (error) {
      // The parser's usage error is the message: the config names the entry, not the flag.
      ctx.addIssue({
        code: 'custom',
        message: error instanceof Error ? error.message.replace(/^--suspect /, '') : String(error),
      });
    }
  });

const pathTemplateSchema = z.string().superRefine((value, ctx) => {
  const problem = parsePathTemplate(value).problem;
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const vaultSchema = z.strictObject({
  addresses: z
    .array(z.url({ protocol: /^https?$/ }))
    .min(1)
    .optional(),
  timeout_ms: z.int().min(100).max(600_000).default(10_000),
  retries: z.int().min(0).max(10).default(3),
  max_connections: z.int().min(1).max(1024).default(32),
  namespace: z.string().optional(),
  token_file: z.string().optional(),
  tls: z
    .strictObject({
      ca_file: z.string().optional(),
      insecure_skip_verify: z.boolean().default(false),
    })
    .default({ insecure_skip_verify: false }),
});

const tenantSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('kv'),
    /** A KV path (CLI form) whose child keys are the tenant ids, e.g. secret/tenants. */
    path: z.string().min(1),
  }),
  z.strictObject({ kind: z.literal('file'), file: z.string().min(1) }),
]);

const tenancySchema = z.strictObject({
  paths: z.array(pathTemplateSchema).default([]),
  exclude: z.array(z.string().min(1)).default([]),
  source: tenantSourceSchema.optional(),
  /** More affected tenants than this makes a breach `widespread`. */
  widespread_threshold: z.int().min(0).default(10),
});

/** Thresholds of the breach-assessment rules (src/assess/rules). */
const assessSchema = z.strictObject({
  /** One actor reading secrets of more tenants than this in the window is suspicious. */
  many_tenants_threshold: z.int().min(1).default(3),
  /** This many failed logins from one address within `within` is a burst (password guessing). */
  login_burst: z
    .strictObject({ count: z.int().min(2).default(5), within: durationSchema.default('5m') })
    .default({ count: 5, within: '5m' }),
  /** A token created to live longer than this (or forever) is suspicious. */
  max_token_ttl: durationSchema.default('24h'),
  /**
   * Actors that `--scope conservative` does not count as readers (the applications that read
   * tenant secrets every day): `display-name:NAME` or `role:MOUNT/ROLE` entries.
   */
  allow_actors: z.array(suspectSchema(['display-name', 'role'])).default([]),
});

/** `sealwatch posture`: thresholds of its checks (src/posture/checks) and how it reads policies (docs/policies.md). */
const postureSchema = z.strictObject({
  /** How a role's name says its tenant, e.g. `{tenant}-app`: such a role reaching another tenant is high. */
  tenant_role_template: z
    .string()
    .refine((t) => t.split('{tenant}').length === 2, 'must contain {tenant} exactly once')
    .optional(),
  /** Policies allowed to hold `sudo` (break-glass); sudo in any other policy is a finding. */
  break_glass_policies: z.array(z.string().min(1)).default([]),
  /** A token created to live longer than this (or forever) is a finding. */
  max_token_ttl: durationSchema.default('24h'),
  /** A default or max lease TTL of the system or an auth mount above this is a finding (OpenBao's default is 768h). */
  max_mount_ttl: durationSchema.default('768h'),
  /** A barrier keyring term older than this wants `sys/rotate/keyring`. */
  max_keyring_age: durationSchema.default('90d'),
  /** No audit event ingested for longer than this: the store has stopped following the log. */
  max_ingest_lag: durationSchema.default('24h'),
  /** A TLS listener certificate ending within this is a finding (medium; expired is critical). */
  tls_cert_warn: durationSchema.default('30d'),
  /** Ending within this it is high. */
  tls_cert_high: durationSchema.default('7d'),
});

export const configFileSchema = z.strictObject({
  vault: vaultSchema.default(vaultSchema.parse({})),
  store: z.strictObject({ url: z.string().min(1).optional() }).default({}),
  tenancy: tenancySchema.default(tenancySchema.parse({})),
  rotation: rotationSchema.default(rotationSchema.parse({})),
  assess: assessSchema.default(assessSchema.parse({})),
  posture: postureSchema.default(postureSchema.parse({})),
  /** What the responder knows about the attacker, like --suspect (repeatable): KIND:VALUE[@SINCE..UNTIL]. */
  suspects: z.array(suspectSchema()).default([]),
  /** Tenant notices (email and signed webhooks); see notify.schema.ts. */
  notify: notifySchema.optional(),
  /** `watch`: intervals, rule thresholds and notification channels; see watch.schema.ts. */
  watch: watchSchema.default(watchSchema.parse({})),
  lab: z
    .strictObject({
      /** Set by `lab up`: the lab file holding the lab's root token and unseal keys. */
      file: z.string().min(1),
    })
    .optional(),
  log: z
    .strictObject({
      level: logLevelSchema.default('warn'),
    })
    .default({ level: 'warn' }),
});

export type ConfigFile = z.infer<typeof configFileSchema>;
export type TenantSource = z.infer<typeof tenantSourceSchema>;
