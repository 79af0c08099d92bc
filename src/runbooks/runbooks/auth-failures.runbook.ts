import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pLimit from 'p-limit';
import { z } from 'zod';
import { SealwatchError, UsageError } from '../../errors.js';
import { PathTemplateMatcher } from '../../config/path-template.js';
import type { VaultClient } from '../../vault/client.js';
import type { AuditDevice } from '../../vault/types.js';
import {
  appRoleLogin,
  destroySecretId,
  issueSecretId,
  parseRoleRef,
  readRoleId,
  requireRole,
  roleIdHashes,
  roleName,
  rolePath,
  type RoleRef,
} from '../auth-failures/approle.js';
import { catchUpAuditLog } from '../auth-failures/catch-up.js';
import {
  groupFailures,
  knownErrorMessages,
  REASON_TEXT,
  type FailureGroup,
  type FailureReason,
} from '../auth-failures/classify.js';
import { couldNotCheckFinding, orUnchecked, uncheckedFact, type UncheckedFact } from '../could-not-check.js';
import type { Finding } from '../finding.js';
import { gauge, parsePrometheus } from '../memory/prometheus.js';
import { shortError } from '../nodes.js';
import { durationFlag, type Runbook, type RunbookDeps } from '../runbook.js';
import { displayText } from '../../util/text.js';

/** How long a diagnosis may spend bringing the audit store up to date (the rest waits for the next one). */
const INGEST_BUDGET_MS = 1_500;
const DEFAULT_WINDOW_MS = 24 * 3_600_000;
/** More failures than this for one role in the window is high severity: an outage, not a typo. */
const HIGH_FAILURES = 10;

/** The reasons sealwatch can fix for an AppRole role (a new secret ID, a corrected field). */
const FIXABLE: ReadonlySet<FailureReason> = new Set([
  'invalid-secret-id',
  'bound-cidr-mismatch',
  'missing-credentials',
]);

const FIELD = /^([a-z_]+)=(.*)$/s;

const optionsSchema = z
  .object({
    /** Audit logs to ingest first (default: the lab's). Repeatable, as for secret-leak. */
    auditLog: z
      .preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(z.string().min(1)).min(1))
      .optional(),
    windowMs: z.int().min(1_000).default(DEFAULT_WINDOW_MS),
    /** `MOUNT/ROLE` of the AppRole role to fix. */
    role: z.string().min(1).optional(),
    /** Where the re-issued secret ID goes (a 0600 file; never printed or journalled). */
    secretIdOut: z.string().min(1).optional(),
    /** Role fields to correct (`secret_id_bound_cidrs` → `127.0.0.1/32`). */
    setRoleField: z.record(z.string(), z.string()).default({}),
  })
  .refine(
    (o) => o.role !== undefined || (o.secretIdOut === undefined && Object.keys(o.setRoleField).length === 0),
    {
      message: '--secret-id-out and --set-role-field need --role MOUNT/ROLE',
    },
  );
type AuthFailuresOptions = z.infer<typeof optionsSchema>;

/** The audit logs to read first: the ones given, else the site's (a lab's audit log). */
function auditLogsOf(deps: Pick<RunbookDeps, 'site'>, options: AuthFailuresOptions): string[] {
  if (options.auditLog) return options.auditLog.map((f) => resolve(f));
  return [...(deps.site?.auditLogs?.auditLogs() ?? [])];
}

/** The audit device whose HMACs the stored events carry: the one writing this file, else the first. */
function hashDevice(devices: readonly AuditDevice[], files: readonly string[]): string | undefined {
  const own = devices.find((d) => d.options['file_path'] && files.includes(resolve(d.options['file_path'])));
  return (own ?? devices.find((d) => d.type === 'file') ?? devices[0])?.path;
}

/** Login attempts and tokens issued by logins since the active node started (Prometheus counters). */
async function loginTelemetry(vault: VaultClient): Promise<Record<string, unknown>> {
  const nodes = await Promise.all(
    vault.addresses.map(async (node) => {
      try {
        const samples = parsePrometheus(await vault.metricsPrometheus(node));
        if (gauge(samples, 'vault_core_active') !== 1) return undefined;
        const requests = gauge(samples, 'vault_core_handle_login_request_count') ?? 0;
        const issued = (samples.get('vault_token_creation') ?? [])
          .filter((s) => s.labels['auth_method'] !== 'token')
          .reduce((sum, s) => sum + s.value, 0);
        return { node, login_requests: requests, login_tokens_issued: issued };
      } catch {
        // Only the active node answers metrics (standbys and sealed nodes answer none): the telemetry is
        // supporting evidence, reported as { available: false } when no node gave it.
        return undefined;
      }
    }),
  );
  const active = nodes.find((n) => n !== undefined);
  if (!active) return { available: false };
  return {
    ...active,
    failed_estimate: Math.max(0, active.login_requests - active.login_tokens_issued),
    since: 'the active node started',
  };
}

function groupFinding(group: FailureGroup, role: Record<string, unknown> | undefined): Finding {
  const who = group.principal ? ` ${group.principal}` : '';
  const base = {
    mount: group.mount,
    ...(group.principal ? { principal: group.principal } : {}),
    reason: group.reason,
    reason_text: REASON_TEXT[group.reason],
    count: group.count,
    first: group.first,
    last: group.last,
    remote_addresses: group.remote_addresses,
    ...(group.recovered_at ? { recovered_at: group.recovered_at } : {}),
  };
  const symptom = `${group.mount}${who}: ${group.count} failed login(s), last ${group.last} — ${REASON_TEXT[group.reason]}`;
  if (group.principal && role && FIXABLE.has(group.reason)) {
    const ref = `${group.mount.replace(/^auth\//, '')}${group.principal}`;
    const cidrs = {
      secret_id_bound_cidrs: role['secret_id_bound_cidrs'] ?? null,
      token_bound_cidrs: role['token_bound_cidrs'] ?? null,
    };
    return {
      id: 'login-failing',
      severity: group.recovered_at ? 'info' : group.count > HIGH_FAILURES ? 'high' : 'medium',
      symptom: group.recovered_at ? `${symptom}; the role logged in again at ${group.recovered_at}` : symptom,
      evidence: {
        ...base,
        role_exists: true,
        ...(group.reason === 'bound-cidr-mismatch' ? cidrs : {}),
        secret_id_ttl: role['secret_id_ttl'] ?? null,
        secret_id_num_uses: role['secret_id_num_uses'] ?? null,
      },
      suggested_step:
        group.reason === 'bound-cidr-mismatch'
          ? `the role only accepts ${JSON.stringify(cidrs.secret_id_bound_cidrs)}; if ${group.remote_addresses.join(', ')} is the application: sealwatch runbook run auth-failures --role ${ref} --set-role-field secret_id_bound_cidrs=<CIDRs including it>`
          : `issue a new secret ID and deliver it to the application: sealwatch runbook run auth-failures --role ${ref} --secret-id-out FILE`,
    };
  }
  const advice: Record<FailureReason, [string, string]> = {
    'invalid-secret-id': ['login-failing', 'check the credentials the application uses'],
    'role-not-found': [
      'login-unknown-role',
      `the role_id matches no role on ${group.mount}: was the role deleted or recreated (new role_id)? give the application the current role_id, or recreate the role from its exported configuration`,
    ],
    'bound-cidr-mismatch': ['login-failing', 'check the bound CIDRs of the role and of its secret IDs'],
    'missing-credentials': [
      'login-failing',
      'the client sends no role_id/secret_id: check its configuration',
    ],
    'invalid-password': ['login-invalid-password', 'reset the password or check the client configuration'],
    'permission-denied': [
      'login-permission-denied',
      `check that ${group.mount} is an enabled auth mount (sealwatch posture, bao auth list) and the client's address`,
    ],
    unclassified: [
      'login-unclassified',
      `the error message is HMAC'd in the audit log: tune the mount to log it in clear (bao auth tune -audit-non-hmac-response-keys=error ${group.mount.replace(/^auth\//, '')}) and diagnose again`,
    ],
  };
  const [id, step] = advice[group.reason];
  return {
    id,
    severity: group.recovered_at ? 'info' : group.reason === 'unclassified' ? 'low' : 'medium',
    symptom,
    evidence: base,
    suggested_step: step,
  };
}

export async function diagnoseAuthFailures(
  deps: Pick<RunbookDeps, 'vault' | 'store' | 'config' | 'logger' | 'site'>,
  options: AuthFailuresOptions,
): Promise<Finding[]> {
  const { vault, store } = deps;
  const findings: Finding[] = [];
  const files = auditLogsOf(deps, options);
  const telemetry = loginTelemetry(vault);
  // Settled now (read only when there are failures to classify), so a refusal is never unhandled.
  const devices = settle(vault.listAuditDevices());
  const authMounts = settle(vault.listAuthMounts());
  const unchecked: UncheckedFact[] = [];
  const role = options.role ? parseRoleRef(options.role) : undefined;
  const roleState = role
    ? requireRole(vault, role).then(
        (data) => ({ data }),
        (error: unknown) => ({ error: shortError(error) }),
      )
    : undefined;

  const matcher = new PathTemplateMatcher(deps.config.tenancy.paths);
  const deadline = Date.now() + INGEST_BUDGET_MS;
  for (const file of files) {
    const caught = await catchUpAuditLog(
      file,
      { store, matcher, logger: deps.logger },
      { budgetMs: Math.max(0, deadline - Date.now()) },
    );
    if (caught.error)
      findings.push({
        id: 'audit-log-unreadable',
        severity: 'medium',
        symptom: `the audit log ${file} cannot be read: ${caught.error}`,
        evidence: { file, error: caught.error },
        suggested_step:
          "give the file audit device's log with --audit-log F (readable by sealwatch), or ingest it: sealwatch audit ingest F",
      });
    else if (caught.remainingBytes > 0)
      findings.push({
        id: 'audit-ingest-incomplete',
        severity: 'low',
        symptom: `${caught.remainingBytes} bytes of ${file} are not ingested yet; the counts below miss them`,
        evidence: { file, remaining_bytes: caught.remainingBytes, ingested_events: caught.events },
        suggested_step: `let sealwatch audit follow ${file} keep the store current, or diagnose again (each run continues)`,
      });
  }

  if (role && roleState) {
    const state = await roleState;
    if ('error' in state)
      findings.push({
        id: 'role-not-found',
        severity: 'high',
        symptom: state.error,
        evidence: { mount: role.mount, role: role.role },
        suggested_step: 'check --role MOUNT/ROLE against the roles listed',
      });
  }

  if (!(await store.auditLogins.hasEvents())) {
    findings.push({
      id: 'audit-store-empty',
      severity: 'medium',
      symptom: 'the audit store holds no events: nothing to count failed logins from',
      evidence: { audit_logs: files, telemetry: await telemetry },
      suggested_step:
        'ingest the audit log first: sealwatch audit ingest FILE (or --audit-log FILE here), or keep it current with sealwatch audit follow FILE',
    });
    return findings;
  }

  const since = new Date(Date.now() - options.windowMs).toISOString();
  const [failures, successes] = await Promise.all([
    store.auditLogins.failed(since),
    store.auditLogins.succeeded(since),
  ]);
  const succeeded = successes.reduce((sum, s) => sum + s.count, 0);
  const listedDevices = await devices;
  if ('error' in listedDevices && failures.length > 0)
    unchecked.push(
      uncheckedFact('why the logins failed (the audit device that hashes error texts)', listedDevices.error, {
        capability: 'read',
        path: 'sys/audit',
      }),
    );
  const device = hashDevice('value' in listedDevices ? listedDevices.value : [], files);
  let groups: FailureGroup[] = [];
  if (failures.length > 0) {
    const limit = pLimit(8);
    const addresses = [...new Set(failures.map((f) => f.remote_address).filter((a) => a !== null))];
    const hash = (input: string) =>
      limit(() =>
        orUnchecked(
          vault.auditHash(device!, input),
          unchecked,
          'why the logins failed (hashing the known error texts)',
          {
            capability: 'update',
            path: `sys/audit-hash/${device!}`,
          },
        ),
      );
    const mounts = await authMounts;
    if ('error' in mounts)
      unchecked.push(
        uncheckedFact('which AppRole roles the failing logins used (the auth mounts)', mounts.error, {
          capability: 'read',
          path: 'sys/auth',
        }),
      );
    const approleMounts = Object.entries('value' in mounts ? mounts.value : {})
      .filter(([, m]) => m.type === 'approle')
      .map(([path]) => `auth/${path}`);
    const [errors, roles] = device
      ? await Promise.all([
          Promise.all(
            knownErrorMessages(addresses).map(
              async ([message, reason]) => [await hash(message), reason] as const,
            ),
          ).then((pairs) => new Map(pairs.filter((p): p is [string, FailureReason] => p[0] !== undefined))),
          failures.some((f) => f.mount_type === 'approle')
            ? orUnchecked(
                roleIdHashes(vault, device, approleMounts),
                unchecked,
                'which AppRole roles the failing logins used (their role IDs)',
                { capability: 'list', path: `${approleMounts[0] ?? 'auth/approle/'}role` },
              ).then((hashes) => hashes ?? new Map<string, RoleRef>())
            : new Map<string, RoleRef>(),
        ])
      : [new Map<string, FailureReason>(), new Map<string, RoleRef>()];
    groups = groupFailures(failures, errors, roles, successes);
    const roleData = new Map(
      await Promise.all(
        groups
          .filter((g) => g.principal && FIXABLE.has(g.reason))
          .map(
            async (g) =>
              [
                `${g.mount}${g.principal}`,
                (
                  await orUnchecked(
                    vault.readOptional(`${g.mount}role/${g.principal}`),
                    unchecked,
                    `the configuration of role ${g.mount}role/${g.principal}`,
                    { capability: 'read', path: `${g.mount}role/${g.principal}` },
                  )
                )?.data,
              ] as const,
          ),
      ),
    );
    for (const group of groups)
      findings.push(groupFinding(group, roleData.get(`${group.mount}${group.principal}`)));
  }
  const total = failures.length + succeeded;
  findings.push({
    id: 'auth-failure-rate',
    severity: 'info',
    symptom: `${failures.length} of ${total} login(s) failed since ${since}`,
    evidence: {
      window_start: since,
      logins: total,
      failed: failures.length,
      failure_rate: total === 0 ? 0 : Math.round((failures.length / total) * 1000) / 1000,
      hash_device: device ?? null,
      telemetry: await telemetry,
    },
    suggested_step: failures.length === 0 ? 'nothing to do' : 'see the findings per mount and role',
  });
  // One finding per refused check and path: every hash of the same device is refused alike.
  const seen = new Set<string>();
  for (const fact of unchecked) {
    const key = `${fact.check}\0${fact.path}`;
    if (!seen.has(key)) findings.push(couldNotCheckFinding(fact));
    seen.add(key);
  }
  return findings;
}

/** A promise whose rejection is a value: started early, read later, never an unhandled rejection. */
function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** Healthy, for this runbook, means no AppRole role it could fix still fails (advisories are advice). */
function authHealthy(findings: readonly Finding[]): boolean {
  return !findings.some(
    (f) =>
      (f.id === 'login-failing' && f.severity !== 'info') ||
      f.id === 'audit-store-empty' ||
      f.id === 'role-not-found',
  );
}

function sameValue(a: unknown, b: string): boolean {
  const flat = Array.isArray(a) ? a.map((x) => displayText(x)).join(',') : displayText(a);
  return (
    flat === b ||
    flat.split(',').sort().join(',') ===
      b
        .split(',')
        .map((s) => s.trim())
        .sort()
        .join(',')
  );
}

/** Writes the secret ID to a file only its owner can read, replacing it atomically. */
function writeSecretFile(file: string, secret: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${secret}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export const authFailuresRunbook: Runbook<AuthFailuresOptions> = {
  name: 'auth-failures',
  title: 'Authentication failures',
  when: 'applications cannot log in (AppRole, userpass, JWT): 400 "invalid role or secret ID", CIDR refusals, permission denied',
  flags: [
    {
      flags: '--audit-log <file>',
      description: "audit log to ingest before counting (repeatable; default: the lab's)",
      diagnose: true,
      parse: (value, previous) => [...(Array.isArray(previous) ? (previous as string[]) : []), value],
    },
    durationFlag('--window <duration>', 'windowMs', 'count failures this far back (default 24h)', {
      diagnose: true,
    }),
    {
      flags: '--role <mount/role>',
      description: 'the AppRole role to check and fix, e.g. approle/mailer',
      diagnose: true,
    },
    {
      flags: '--secret-id-out <file>',
      description: 'issue a new secret ID for --role into this file (0600; never printed)',
    },
    {
      flags: '--set-role-field <key=value>',
      description: 'correct a field of --role (repeatable), e.g. secret_id_bound_cidrs=10.0.0.0/8',
      parse: (value, previous) => {
        const match = FIELD.exec(value);
        if (!match)
          throw new UsageError(
            `--set-role-field ${value}: give key=value, e.g. secret_id_bound_cidrs=10.0.0.0/8`,
          );
        return { ...(previous ?? {}), [match[1]!]: match[2]! };
      },
    },
  ],
  options: optionsSchema,
  diagnose: diagnoseAuthFailures,
  healthy: authHealthy,
  remediation: (deps, options) => {
    const ref = options.role ? parseRoleRef(options.role) : undefined;
    const fields = Object.entries(options.setRoleField);
    const secretFile = options.secretIdOut ? resolve(options.secretIdOut) : undefined;
    return [
      {
        id: 'set-role-field',
        title: 'Correct the role’s fields',
        targetSeconds: 10,
        needsApproval: true,
        skip: async () => (ref && fields.length > 0 ? undefined : 'no --set-role-field given'),
        plan: async () => {
          const role = await requireRole(deps.vault, ref!);
          return fields.map(([key, value]) => ({
            action: `${rolePath(ref!)}: set ${key} from ${JSON.stringify(role[key] ?? null)} to ${JSON.stringify(value)}`,
            details: { field: key, before: role[key] ?? null, after: value },
            destructive: true,
          }));
        },
        run: async (ctx) => {
          const before = await requireRole(deps.vault, ref!);
          const unknown = fields.filter(([key]) => !(key in before)).map(([key]) => key);
          if (unknown.length > 0)
            throw new UsageError(
              `${rolePath(ref!)} has no field ${unknown.join(', ')} (fields: ${Object.keys(before).sort().join(', ')})`,
            );
          const changes = fields.filter(([key, value]) => !sameValue(before[key], value));
          if (changes.length > 0) {
            ctx.progress(`writing ${changes.map(([k]) => k).join(', ')} to ${rolePath(ref!)}`);
            await deps.vault.write(rolePath(ref!), Object.fromEntries(changes));
          }
          const after = await requireRole(deps.vault, ref!);
          const wrong = fields.filter(([key, value]) => !sameValue(after[key], value));
          if (wrong.length > 0)
            throw new SealwatchError(
              'role_field_not_applied',
              `${rolePath(ref!)}: ${wrong.map(([k, v]) => `${k} reads ${JSON.stringify(after[k])}, not ${v}`).join('; ')}`,
            );
          return {
            evidence: {
              role: roleName(ref!),
              changes: fields.map(([key]) => ({
                field: key,
                before: before[key] ?? null,
                after: after[key] ?? null,
              })),
              unchanged: fields.length - changes.length,
            },
          };
        },
      },
      {
        id: 'reissue-secret-id',
        title: 'Issue a new secret ID for the role',
        targetSeconds: 10,
        needsApproval: true,
        skip: async () => (ref && secretFile ? undefined : 'no --role with --secret-id-out given'),
        plan: async () => {
          await requireRole(deps.vault, ref!);
          return [
            {
              action: `issue a new secret ID for ${rolePath(ref!)} and write it to ${secretFile} (mode 0600; never printed)`,
              destructive: true,
            },
          ];
        },
        run: async (ctx) => {
          await requireRole(deps.vault, ref!);
          const issued = await issueSecretId(deps.vault, ref!, {
            issued_by: 'sealwatch',
            incident: ctx.incidentId,
          });
          ctx.sensitive?.(issued.secret_id);
          writeSecretFile(secretFile!, issued.secret_id);
          return {
            evidence: {
              role: roleName(ref!),
              file: secretFile,
              secret_id_accessor: issued.secret_id_accessor,
            },
            outputs: { secret_id_accessor: issued.secret_id_accessor },
          };
        },
      },
      {
        id: 'verify-login',
        title: 'Verify the role logs in (a real login)',
        targetSeconds: 10,
        needsApproval: false,
        skip: async () => (ref ? undefined : 'no --role given: nothing was fixed to verify'),
        plan: async () => [
          {
            action: `log in to ${ref!.mount}login as ${ref!.role}${secretFile ? ` with the new secret ID from ${secretFile}` : ' with a throwaway secret ID'}, then revoke that token`,
          },
        ],
        run: async (ctx) => {
          const role = await requireRole(deps.vault, ref!);
          const roleId = await readRoleId(deps.vault, ref!);
          // A use-limited secret ID is not spent on the check: a throwaway one is issued instead.
          const useFile = secretFile && existsSync(secretFile) && !Number(role['secret_id_num_uses'] ?? 0);
          let throwaway: string | undefined;
          let secretId: string;
          if (useFile) secretId = readFileSync(secretFile, 'utf8').trim();
          else {
            const issued = await issueSecretId(deps.vault, ref!, {
              issued_by: 'sealwatch',
              purpose: 'verify-login',
            });
            throwaway = issued.secret_id_accessor;
            secretId = issued.secret_id;
          }
          ctx.sensitive?.(secretId);
          try {
            const login = await appRoleLogin(deps.vault, ref!, roleId, secretId).catch((error: unknown) => {
              throw new SealwatchError(
                'login_still_failing',
                `${roleName(ref!)} still cannot log in: ${shortError(error)}`,
                { cause: error },
              );
            });
            ctx.sensitive?.(login.token);
            await deps.vault.tokenRevoke(login.token);
            return {
              evidence: {
                role: roleName(ref!),
                login: 'ok',
                secret_id: useFile ? 'the re-issued one' : 'a throwaway one, destroyed after',
                token_policies: login.policies,
              },
            };
          } finally {
            if (throwaway)
              await destroySecretId(deps.vault, ref!, throwaway).catch((error: unknown) =>
                // A live throwaway secret ID is a credential: the operator is told to destroy it.
                ctx.progress(
                  `could not destroy the throwaway secret ID (accessor ${throwaway}) of ${roleName(ref!)}: ${shortError(error)}; destroy it: bao write ${rolePath(ref!)}/secret-id-accessor/destroy secret_id_accessor=${throwaway}`,
                ),
              );
          }
        },
      },
    ];
  },
};
