import { z } from 'zod';
import { parsePathTemplate } from './path-template.js';

/**
 * The `rotation` section: which secrets are rotated (a path template per kind), how fast, and the
 * target each kind is applied to. Credentials of targets (TSIG keys, admin passwords) are never
 * written in the file: they come from a file or an environment variable named here.
 */
const durationSchema = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 30s, 5m, 24h or 7d');

const templateSchema = z.string().superRefine((value, ctx) => {
  const problem = parsePathTemplate(value).problem;
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Where a target's own credential comes from. */
export const credentialRefSchema = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().min(1) }),
]);

const endpointSchema = z.strictObject({ host: z.string().min(1), port: z.int().min(1).max(65535) });

const vaultOnly = z.strictObject({ mode: z.literal('vault-only') });

/**
 * The server's host key as `ssh-keygen -lf` prints it (`SHA256:…`): when set, a server showing
 * another key gets no key offered to it (without it any host key is accepted).
 */
const hostKeySchema = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a host key fingerprint such as SHA256:…');

export const sshTargetSchema = z.discriminatedUnion('mode', [
  vaultOnly,
  z.strictObject({
    mode: z.literal('authorized-keys'),
    /** authorized_keys file per tenant; `{tenant}` and `{username}` (the secret's username field) are filled in. */
    authorized_keys: z.string().min(1),
    /** Edit the file on this host over SSH instead of locally. */
    via: z
      .strictObject({
        host: z.string(),
        port: z.int().default(22),
        user: z.string(),
        private_key_file: z.string(),
        host_key: hostKeySchema.optional(),
      })
      .optional(),
    /** Where verification logs in with the new key; the user is the secret's username unless given. */
    login: z.strictObject({
      host: z.string(),
      port: z.int().min(1).max(65535),
      user: z.string().optional(),
      host_key: hostKeySchema.optional(),
    }),
  }),
]);

/** Length of generated passwords; optional so the `vault-only` defaults stay valid (32 when absent). */
const passwordLengthSchema = z.int().min(16).max(256).optional();

/**
 * The SMTP server where verification logs in. `starttls` (default) refuses to send the password
 * unless the server upgrades the connection; `none` is for a loopback test server only.
 */
const smtpVerifySchema = endpointSchema.extend({
  tls: z.enum(['starttls', 'implicit', 'none']).optional(),
});

export const smtpTargetSchema = z.discriminatedUnion('mode', [
  vaultOnly.extend({ verify: smtpVerifySchema.optional(), password_length: passwordLengthSchema }),
  z.strictObject({
    mode: z.literal('webhook'),
    url: z.url(),
    /** HMAC-SHA256 key for the X-Sealwatch-Signature header. */
    signing_key: credentialRefSchema.optional(),
    timeout_ms: z.int().min(100).default(10_000),
    verify: smtpVerifySchema.optional(),
    password_length: passwordLengthSchema,
  }),
  z.strictObject({
    mode: z.literal('command'),
    /** argv; the new credential is written as JSON on the command's standard input, never in argv. */
    command: z.array(z.string()).min(1),
    timeout_ms: z.int().min(100).default(30_000),
    verify: smtpVerifySchema.optional(),
    password_length: passwordLengthSchema,
  }),
]);

export const dkimTargetSchema = z.discriminatedUnion('mode', [
  vaultOnly,
  z.strictObject({
    /** No DNS target: the TXT records to publish are written to this file for the operator. */
    mode: z.literal('records-file'),
    file: z.string().min(1),
  }),
  z.strictObject({
    mode: z.literal('rfc2136'),
    server: endpointSchema,
    /** The zone to update; defaults to the tenant's domain. */
    zone: z.string().optional(),
    tsig: z.strictObject({
      name: z.string().min(1),
      algorithm: z.enum(['hmac-sha256', 'hmac-sha512']).default('hmac-sha256'),
      secret: credentialRefSchema,
    }),
    /** Resolver that verification queries (the authoritative server by default). */
    resolver: endpointSchema.optional(),
    ttl: z.int().min(1).default(300),
  }),
]);

export const postgresTargetSchema = z.discriminatedUnion('mode', [
  vaultOnly.extend({ password_length: passwordLengthSchema }),
  z.strictObject({
    mode: z.literal('alter-role'),
    host: z.string().min(1),
    port: z.int().min(1).max(65535).default(5432),
    database: z.string().default('postgres'),
    /** A role allowed to ALTER ROLE … PASSWORD: `postgres://user:pass@host/db` read from a file or env. */
    admin_url: credentialRefSchema,
    password_length: passwordLengthSchema,
  }),
  z.strictObject({
    /** The Vault database secrets engine manages the role: rotate it through a static role. */
    mode: z.literal('vault-database'),
    mount: z.string().default('database'),
    /** Static role name per tenant. */
    static_role: z.string().default('{tenant}'),
    host: z.string().min(1),
    port: z.int().min(1).max(65535).default(5432),
    database: z.string().default('postgres'),
  }),
]);

const generatorSchema = z.strictObject({
  type: z.enum(['password', 'hex', 'base64url', 'uuid']).default('password'),
  length: z.int().min(8).max(512).default(32),
});

/**
 * The target configuration of each kind of secret sealwatch rotates. This object is the list of
 * kinds: adding a kind is one entry here plus its rotator (src/rotate/rotators/, one registry line).
 */
const targetSchemas = {
  ssh: sshTargetSchema.default({ mode: 'vault-only' }),
  smtp: smtpTargetSchema.default({ mode: 'vault-only' }),
  apikey: z
    .strictObject({
      /** Issue a replacement for each revoked key (stored hashed; the clear value is shown once). */
      issue_replacements: z.boolean().default(false),
      /** Where the clear values of replacement keys are written once (mode 0600); required with issue_replacements. */
      issued_keys_file: z.string().optional(),
    })
    .default({ issue_replacements: false }),
  dkim: dkimTargetSchema.default({ mode: 'vault-only' }),
  postgres: postgresTargetSchema.default({ mode: 'vault-only' }),
  kv: z.strictObject({ fields: z.record(z.string(), generatorSchema).default({}) }).default({ fields: {} }),
};
const targetsSchema = z.strictObject(targetSchemas);

export const rotatorKindSchema = targetsSchema.keyof();
export type RotatorKind = z.infer<typeof rotatorKindSchema>;
/** Every kind, in the order of their targets above. */
export const ROTATOR_KINDS: readonly RotatorKind[] = rotatorKindSchema.options;

export const rotationSchema = z.strictObject({
  /** Secrets to rotate: a kind and where it lives, one entry per template. */
  secrets: z.array(z.strictObject({ kind: rotatorKindSchema, path: templateSchema })).default([]),
  /** Secrets in flight at once, over all targets. */
  concurrency: z.int().min(1).max(512).default(16),
  /** Secrets in flight at once against one target. */
  per_target: z.int().min(1).max(512).default(8),
  /** Secrets started per second at most (0: no limit). */
  rate: z.number().min(0).default(0),
  /** Attempts of a failing phase before the secret is rolled back. */
  attempts: z.int().min(1).max(10).default(3),
  /** How long the old value stays readable (soft-deleted after it); 0s retires it at once. */
  grace_period: durationSchema.default('0s'),
  /** Destroy (not only soft-delete) the old version when it is retired. */
  destroy_old: z.boolean().default(false),
  /** Every kind's target, each with its own defaults (prefault: the defaults are parsed, not copied). */
  targets: targetsSchema.prefault({}),
});

export type RotationConfig = z.infer<typeof rotationSchema>;
export type SshTarget = z.infer<typeof sshTargetSchema>;
export type SmtpTarget = z.infer<typeof smtpTargetSchema>;
export type DkimTarget = z.infer<typeof dkimTargetSchema>;
export type PostgresTarget = z.infer<typeof postgresTargetSchema>;
export type CredentialRef = z.infer<typeof credentialRefSchema>;
