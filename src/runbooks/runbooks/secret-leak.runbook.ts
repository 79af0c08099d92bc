import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SealwatchError, UsageError, systemErrorCode, errorMessage } from '../../errors.js';
import type { Step, StepContext } from '../../playbook/step.js';
import type { createRotation, RotationPlan } from '../../rotate/rotation.service.js';
import { isRotatorKind } from '../../rotate/rotator.js';
import { waitFor } from '../../util/wait.js';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../../vault/errors.js';
import { couldNotCheckFinding } from '../could-not-check.js';
import type { Finding } from '../finding.js';
import type { Diagnosis, Runbook, RunbookDeps } from '../runbook.js';
import {
  declareAndReload,
  defaultSecondAuditFile,
  editableNodes,
  secondAuditStanza,
} from '../secret-leak/audit-device.js';
import { gatherLeakFacts, scanHolder, type LeakFacts } from '../secret-leak/leak-facts.js';
import { decidingRule, denyPaths, grantsCapability, policyDiff } from '../secret-leak/policy-rules.js';
import { parsePolicy } from '../../policy/policy.js';
import { registerSecret } from '../../logging/redactor.js';

/** A flag given once is a string, given again a list; journalled as the list. */
const repeatable = z
  .union([z.string().min(1), z.array(z.string().min(1))])
  .transform((v) => (typeof v === 'string' ? [v] : v));

const optionsSchema = z
  .object({
    /** The file holding the leaked value: its path is journalled, never its content. */
    valueFile: z.string().min(1).optional(),
    /** The leaked value is a token read from standard input when the process starts. */
    tokenStdin: z.boolean().optional(),
    /** Audit logs to ingest before tracing (default: the lab's). */
    auditLog: repeatable.optional(),
    /** Display-name prefixes of readers that are applications (default: approle). */
    expectedReader: repeatable.optional(),
    /** Where the second audit device writes (default: beside the first file device's log). */
    secondAuditFile: z.string().min(1).optional(),
  })
  .refine((o) => Boolean(o.valueFile) !== Boolean(o.tokenStdin), {
    message: 'give exactly one of --value-file <file> or --token-stdin',
  });
type LeakOptions = z.infer<typeof optionsSchema>;

const DEFAULT_EXPECTED_READERS = ['approle'];

/** What the findings of a leak that still works are; the rest is history or advice. */
const LIVE = new Set([
  'leaked-token-valid',
  'leaked-lease-live',
  'leaked-value-current',
  'leaked-value-old-versions',
  'policy-allows-leaked-path',
  'no-audit-device',
]);

/** The leaked value, from the file the options name or the token this process read from stdin. */
async function leakedValue(deps: RunbookDeps, options: LeakOptions): Promise<string> {
  let text: string | undefined;
  if (options.valueFile) {
    try {
      text = readFileSync(options.valueFile, 'utf8');
    } catch (error) {
      throw new UsageError(
        `secret-leak: --value-file ${options.valueFile} cannot be read (${systemErrorCode(error) ?? 'error'}): give a readable file holding the leaked value`,
      );
    }
  } else {
    text = await deps.runtime?.leakedValue?.();
    if (text === undefined)
      throw new UsageError(
        'secret-leak: the leaked token is read from standard input (--token-stdin) and this process has none: run sealwatch runbook run secret-leak --token-stdin again (every step is idempotent)',
      );
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new UsageError('secret-leak: the leaked value is empty: nothing to trace');
  registerSecret(value);
  return value;
}

async function facts(deps: RunbookDeps, options: LeakOptions): Promise<LeakFacts> {
  const value = await leakedValue(deps, options);
  return gatherLeakFacts(deps, {
    value,
    token: options.tokenStdin === true,
    auditLogs: options.auditLog ?? [...(deps.site?.auditLogs?.auditLogs() ?? [])],
    expectedReaders: options.expectedReader ?? DEFAULT_EXPECTED_READERS,
  });
}

const addresses = (items: readonly { remote_address: string | null }[]) => [
  ...new Set(items.map((i) => i.remote_address).filter((a): a is string => a !== null)),
];

function findingsOf(f: LeakFacts, deps: RunbookDeps, options: LeakOptions): Finding[] {
  const findings: Finding[] = [];
  const tokenLive = f.token?.valid === true;
  const valueLive = f.holders.some((h) => h.current) || f.leases.some((l) => l.leases > 0);
  const ingest = f.trace.ingest;
  findings.push({
    id: 'leak-trace',
    severity: 'info',
    symptom: `traced through ${f.trace.hash_lookups} audit device(s): ${f.trace.events} stored audit event(s) carried the ${f.kind}`,
    evidence: {
      kind: f.kind,
      audit_devices: f.devices.map((d) => d.path),
      hash_lookups: f.trace.hash_lookups,
      events: f.trace.events,
      own_events_ignored: f.trace.own_events_ignored,
      ...(ingest
        ? { ingested_files: ingest.files, ingested_events: ingest.events, duplicates: ingest.duplicates }
        : { ingested_files: [] }),
    },
    suggested_step: ingest
      ? 'nothing: the trace covers the ingested audit log'
      : 'give --audit-log FILE to ingest the audit log first, or sealwatch audit ingest FILE',
  });
  for (const failure of ingest?.failures ?? [])
    findings.push({
      id: 'audit-log-unreadable',
      severity: 'low',
      symptom: failure,
      evidence: { error: failure },
      suggested_step: 'give the audit log with --audit-log FILE; the trace covers only what the store holds',
    });

  if (f.token?.valid === true)
    findings.push({
      id: 'leaked-token-valid',
      severity: 'critical',
      symptom: `the leaked token (accessor ${f.token.accessor}, ${f.token.display_name}) still works`,
      evidence: {
        accessor: f.token.accessor,
        display_name: f.token.display_name,
        policies: f.token.policies,
        expire_time: f.token.expire_time,
        auth_path: f.token.auth_path,
        uses: f.tokenUses.length,
      },
      suggested_step: 'revoke it by accessor: sealwatch runbook run secret-leak --token-stdin',
    });
  else if (f.token)
    findings.push({
      id: 'leaked-token-refused',
      severity: 'info',
      symptom: `the leaked token is refused (${f.token.refused})`,
      evidence: { refused: f.token.refused, ...(f.token.accessor ? { accessor: f.token.accessor } : {}) },
      suggested_step: 'nothing: it no longer works',
    });
  if (f.tokenUses.length > 0)
    findings.push({
      id: 'leaked-token-used',
      severity: tokenLive ? 'high' : 'info',
      symptom: `the leaked token made ${f.tokenUses.length} call(s) from ${addresses(f.tokenUses).join(', ') || 'unknown addresses'}`,
      evidence: {
        accessor: f.tokenUses[0]!.accessor,
        calls: f.tokenUses.length,
        remote_addresses: addresses(f.tokenUses),
        uses: f.tokenUses.slice(0, 50).map((e) => ({
          time: e.time,
          type: e.type,
          operation: e.operation,
          path: e.path,
          remote_address: e.remote_address,
        })),
      },
      suggested_step: tokenLive
        ? 'revoke the token, then review what these calls touched'
        : 'review what these calls touched',
    });

  for (const l of f.leases)
    findings.push(
      l.leases > 0
        ? {
            id: 'leaked-lease-live',
            severity: 'critical',
            symptom: `${l.prefix} (${l.mount_type}) issued the leaked value under a lease; ${l.leases} lease(s) under it are live`,
            evidence: { prefix: l.prefix, mount_type: l.mount_type, leases: l.leases },
            suggested_step: `revoke every lease under ${l.prefix}/ (sys/leases/revoke-prefix): sealwatch runbook run secret-leak`,
          }
        : {
            id: 'leaked-lease-revoked',
            severity: 'info',
            symptom: `${l.prefix} (${l.mount_type}) issued the leaked value; no lease under it is live`,
            evidence: { prefix: l.prefix, mount_type: l.mount_type, leases: 0 },
            suggested_step: 'nothing: what it issued is revoked',
          },
    );

  for (const h of f.holders) {
    const evidence = {
      path: h.path,
      api_path: h.api_path,
      fields: h.fields,
      versions: h.versions,
      current_version: h.current_version,
      ...(h.tenant ? { tenant: h.tenant } : {}),
      ...(h.kind ? { kind: h.kind } : {}),
      rotatable: h.not_rotatable === undefined,
      ...(h.not_rotatable ? { not_rotatable: h.not_rotatable } : {}),
      writes: f.writes
        .filter((w) => w.path === h.api_path)
        .map((w) => ({ time: w.time, display_name: w.display_name, accessor: w.accessor })),
    };
    if (h.current)
      findings.push({
        id: 'leaked-value-current',
        severity: 'critical',
        symptom: `${h.path} still holds the leaked value (field ${h.fields.join(', ')}, current version ${h.current_version}${h.tenant ? `, tenant ${h.tenant}` : ''})`,
        evidence,
        suggested_step: h.not_rotatable
          ? `write a new value at ${h.path} (${h.not_rotatable}), then sealwatch runbook run secret-leak to destroy the leaked versions`
          : `rotate it and destroy the leaked versions: sealwatch runbook run secret-leak --value-file F`,
      });
    else
      findings.push({
        id: 'leaked-value-old-versions',
        severity: 'medium',
        symptom: `${h.path} keeps the leaked value in old version(s) ${h.versions.join(', ')}`,
        evidence,
        suggested_step: 'destroy those versions: sealwatch runbook run secret-leak --value-file F',
      });
  }

  for (const r of f.readers) {
    const allowedBy = r.policies.includes('root')
      ? [{ policy: 'root', rule_path: '*', capabilities: ['root'] }]
      : f.grants
          .filter((g) => r.accessor !== null && g.readers.includes(r.accessor))
          .map((g) => ({
            policy: g.policy,
            path: g.path,
            rule_path: g.rule.path,
            capabilities: g.rule.capabilities,
          }));
    const live = tokenLive || valueLive || allowedBy.some((a) => a.policy !== 'root');
    findings.push({
      id: 'leaked-value-read',
      severity: r.expected ? 'info' : live ? 'high' : 'info',
      symptom: `${r.display_name ?? 'an unknown token'} (accessor ${r.accessor ?? 'unknown'}) got it ${r.reads.length} time(s) (${[...new Set(r.reads.map((x) => `${x.operation} ${x.path}`))].join(', ')}) from ${addresses(r.reads).join(', ') || 'an unknown address'}${r.expected ? ' (an application)' : ''}`,
      evidence: {
        accessor: r.accessor,
        display_name: r.display_name,
        expected: r.expected,
        policies: r.policies,
        ...(r.token_valid !== undefined ? { token_valid: r.token_valid } : {}),
        remote_addresses: addresses(r.reads),
        paths: [...new Set(r.reads.map((x) => x.path))],
        reads: r.reads,
        allowed_by: allowedBy,
      },
      suggested_step: r.expected
        ? 'nothing: an application reading its own secret'
        : r.policies.includes('root')
          ? `a root token read it: revoke it (bao token revoke -accessor ${r.accessor ?? '…'}) and find out who held it`
          : 'tighten the policies that allowed it: sealwatch runbook run secret-leak',
    });
  }

  for (const g of f.grants)
    findings.push({
      id: 'policy-allows-leaked-path',
      severity: 'high',
      symptom: `policy ${g.policy} still grants its tokens ${g.path} (rule path "${g.rule.path}": ${g.rule.capabilities.join(', ')})`,
      evidence: {
        policy: g.policy,
        path: g.path,
        rule_path: g.rule.path,
        capabilities: g.rule.capabilities,
        readers: g.readers,
        policy_text: g.text,
      },
      suggested_step: `deny ${g.path} in policy ${g.policy}: sealwatch runbook run secret-leak (shows the diff for approval)`,
    });

  if (f.devices.length < 2) {
    const nodes = editableNodes(deps.site?.nodeHosts);
    const file = options.secondAuditFile ?? defaultSecondAuditFile(f.devices);
    findings.push({
      id: f.devices.length === 0 ? 'no-audit-device' : 'single-audit-device',
      severity: f.devices.length === 0 ? 'critical' : 'medium',
      symptom:
        f.devices.length === 0
          ? 'no audit device is enabled: nothing records who reads secrets'
          : `only one audit device (${f.devices[0]!.path}) is enabled: if it fails, requests are refused or go unrecorded, and there is one trail`,
      evidence: {
        devices: f.devices.map((d) => ({ path: d.path, type: d.type })),
        config_files_known: nodes.length > 0,
        node_configs: nodes.map((n) => n.config_file),
        stanza: secondAuditStanza(file, f.devices),
      },
      suggested_step:
        nodes.length > 0
          ? 'add a second device: sealwatch runbook run secret-leak (writes the audit stanza into every node configuration and reloads)'
          : "add the evidence's audit stanza to every node's server configuration and reload each (SIGHUP): OpenBao 2.4+ creates audit devices only from its configuration",
    });
  }

  findings.push(...f.unchecked.map(couldNotCheckFinding));

  if (f.trace.events === 0 && f.holders.length === 0 && !f.token && f.unchecked.length === 0)
    findings.push({
      id: 'leak-not-found',
      severity: 'info',
      symptom: 'the value appears in no stored audit event: nobody read or wrote it through an audited path',
      evidence: { hash_lookups: f.trace.hash_lookups, ingested: ingest?.files ?? [] },
      suggested_step:
        'if it leaked, it did not leak through this cluster (or its audit log was not ingested: --audit-log FILE)',
    });
  return findings;
}

async function diagnoseLeak(deps: RunbookDeps, options: LeakOptions): Promise<Finding[]> {
  return findingsOf(await facts(deps, options), deps, options);
}

const of = (findings: readonly Finding[], id: string) => findings.filter((f) => f.id === id);
const str = (value: unknown) => (typeof value === 'string' ? value : String(value));

function revokeTokenStep(deps: RunbookDeps, diagnosis: Diagnosis): Step<LeakOptions> {
  const accessorOf = async (ctx: StepContext<LeakOptions>) => {
    const [live] = of(await diagnosis(ctx), 'leaked-token-valid');
    return live ? str(live.evidence['accessor']) : undefined;
  };
  const gone = async (accessor: string) => {
    try {
      await deps.vault.tokenLookupAccessor(accessor);
      return false;
    } catch (error) {
      if (
        error instanceof BadRequestError ||
        error instanceof NotFoundError ||
        error instanceof PermissionDeniedError
      )
        return true;
      throw error;
    }
  };
  return {
    id: 'revoke-token',
    title: 'Revoke the leaked token',
    targetSeconds: 10,
    needsApproval: true,
    skip: async (ctx) => ((await accessorOf(ctx)) ? undefined : 'the leaked value is not a live token'),
    plan: async (ctx) => {
      const [live] = of(await diagnosis(ctx), 'leaked-token-valid');
      return live
        ? [
            {
              action: `revoke the leaked token by accessor ${str(live.evidence['accessor'])} (${str(live.evidence['display_name'])}) and its child tokens and leases`,
              details: { accessor: live.evidence['accessor'], policies: live.evidence['policies'] },
              destructive: true,
            },
          ]
        : [];
    },
    run: async (ctx) => {
      const accessor = (await accessorOf(ctx))!;
      const already = await gone(accessor);
      if (!already) await deps.vault.tokenRevokeAccessor(accessor);
      return { evidence: { accessor, revoked: !already, already_revoked: already } };
    },
    verify: async (ctx) => {
      const accessor = (await accessorOf(ctx))!;
      const ok = await gone(accessor);
      return { ok, evidence: { accessor, lookup_refused: ok } };
    },
  };
}

function revokeLeasesStep(deps: RunbookDeps, diagnosis: Diagnosis): Step<LeakOptions> {
  const prefixes = async (ctx: StepContext<LeakOptions>) =>
    of(await diagnosis(ctx), 'leaked-lease-live').map((f) => str(f.evidence['prefix']));
  const live = async (prefix: string) => (await deps.vault.leaseList(`${prefix}/`)).length;
  return {
    id: 'revoke-leases',
    title: 'Revoke the leases of what issued the leaked value',
    targetSeconds: 30,
    needsApproval: true,
    skip: async (ctx) =>
      (await prefixes(ctx)).length > 0 ? undefined : 'no live lease issued the leaked value',
    plan: async (ctx) =>
      (await diagnosis(ctx))
        .filter((f) => f.id === 'leaked-lease-live')
        .map((f) => ({
          action: `revoke every lease under ${str(f.evidence['prefix'])}/ (sys/leases/revoke-prefix): what it issued stops working`,
          details: { prefix: f.evidence['prefix'], leases: f.evidence['leases'] },
          destructive: true,
        })),
    run: async (ctx) => {
      const revoked = [];
      for (const prefix of await prefixes(ctx)) {
        const before = await live(prefix);
        if (before > 0) await deps.vault.leaseRevokePrefix(`${prefix}/`);
        revoked.push({ prefix, leases_before: before });
      }
      return { evidence: { prefixes: revoked } };
    },
    verify: async (ctx) => {
      const left = await Promise.all(
        (await prefixes(ctx)).map(async (prefix) => ({ prefix, leases: await live(prefix) })),
      );
      return { ok: left.every((l) => l.leases === 0), evidence: { prefixes: left } };
    },
  };
}

function rotateStep(deps: RunbookDeps, diagnosis: Diagnosis): Step<LeakOptions> {
  // The rotators load SSH, SMTP, DNS and PostgreSQL clients: only a run that rotates pays for them.
  let rotationService: Promise<ReturnType<typeof createRotation>> | undefined;
  const rotation = () =>
    (rotationService ??= Promise.all([
      import('../../rotate/rotation.service.js'),
      import('../../rotate/rotators/index.js'),
    ]).then(([{ createRotation }, { createRotators }]) =>
      createRotation({
        vault: deps.vault,
        store: deps.store,
        config: deps.config,
        rotators: createRotators(deps.config.rotation, { vault: deps.vault, logger: deps.logger }),
        logger: deps.logger,
      }),
    ));
  const targets = async (ctx: StepContext<LeakOptions>) => {
    const current = of(await diagnosis(ctx), 'leaked-value-current');
    // A finding marked rotatable whose kind has no rotator (a store written by another version) is
    // left to the operator with the reason, never dropped.
    const rotatable = current.flatMap((f) => {
      const kind = str(f.evidence['kind']);
      return f.evidence['rotatable'] === true && isRotatorKind(kind)
        ? [{ path: str(f.evidence['path']), tenant: str(f.evidence['tenant']), kind }]
        : [];
    });
    const rotatablePaths = new Set(rotatable.map((r) => r.path));
    return {
      rotatable,
      manual: current
        .filter((f) => !rotatablePaths.has(str(f.evidence['path'])))
        .map((f) => ({
          path: str(f.evidence['path']),
          why:
            f.evidence['rotatable'] === true
              ? `kind ${str(f.evidence['kind'])} has no rotator in this sealwatch`
              : str(f.evidence['not_rotatable']),
        })),
    };
  };
  let planned: Promise<RotationPlan> | undefined;
  /** Exactly the leaked secrets: the engine plans by tenant and kind, the run gets only these paths. */
  const planFor = async (ctx: StepContext<LeakOptions>): Promise<RotationPlan> => {
    planned ??= (async () => {
      const { rotatable } = await targets(ctx);
      const plan = await (
        await rotation()
      ).plan({
        tenants: [...new Set(rotatable.map((t) => t.tenant))],
        kinds: [...new Set(rotatable.map((t) => t.kind))],
        incidentId: ctx.incidentId,
      });
      const paths = new Set(rotatable.map((t) => t.path));
      return { ...plan, secrets: plan.secrets.filter((s) => paths.has(s.path)), unmatched: [] };
    })();
    // A failed plan is not cached (the next call plans again); its awaiters get the error.
    planned.catch(() => (planned = undefined));
    return planned;
  };
  return {
    id: 'rotate',
    title: 'Rotate the leaked secrets through the rotation engine',
    targetSeconds: 120,
    needsApproval: true,
    skip: async (ctx) => {
      const { rotatable, manual } = await targets(ctx);
      if (rotatable.length > 0) return undefined;
      return manual.length > 0
        ? `no rotation template covers ${manual.map((m) => `${m.path} (${m.why})`).join(', ')}: write a new value by hand`
        : 'no secret holds the leaked value as its current version';
    },
    plan: async (ctx) => {
      const plan = await planFor(ctx);
      const { manual } = await targets(ctx);
      return [
        ...plan.secrets.map((s) => ({
          action: `rotate ${s.path} (tenant ${s.tenant}, ${s.kind}): stage, apply, verify, finalize`,
          details: { tenant: s.tenant, kind: s.kind },
          destructive: true,
        })),
        ...manual.map((m) => ({ action: `cannot rotate ${m.path}: ${m.why}; write a new value by hand` })),
      ];
    },
    run: async (ctx) => {
      const [existing] = await deps.store.rotations.runsOfIncident(ctx.incidentId);
      const hooks = {
        signal: ctx.signal,
        onStart: (runId: string, total: number) => ctx.progress(`rotation run ${runId}: ${total} secret(s)`),
      };
      const plan = existing ? undefined : await planFor(ctx);
      const summary = existing
        ? await (await rotation()).resume(existing, hooks)
        : await (
            await rotation()
          ).start({ tenants: plan!.tenants, kinds: plan!.kinds, incidentId: ctx.incidentId }, plan!, hooks);
      if (summary.pending > 0 || summary.failed > 0)
        throw new SealwatchError(
          'rotation_unfinished',
          `rotation run ${summary.run_id}: ${summary.pending} unfinished, ${summary.failed} failed (${summary.failures.map((f) => `${f.tenant} ${f.kind}: ${f.reason}`).join('; ')}) — fix and resume the incident`,
          { retryable: summary.pending > 0 },
        );
      return {
        evidence: { run_id: summary.run_id, rotated: summary.rotated, by_kind: summary.by_kind },
        outputs: { run_id: summary.run_id },
      };
    },
  };
}

function destroyVersionsStep(
  deps: RunbookDeps,
  options: LeakOptions,
  diagnosis: Diagnosis,
): Step<LeakOptions> {
  const holders = async (ctx: StepContext<LeakOptions>) =>
    [
      ...of(await diagnosis(ctx), 'leaked-value-current'),
      ...of(await diagnosis(ctx), 'leaked-value-old-versions'),
    ].map((f) => ({ path: str(f.evidence['path']), versions: f.evidence['versions'] as number[] }));
  return {
    id: 'destroy-leaked-versions',
    title: 'Destroy the KV versions holding the leaked value (once a new value is current)',
    targetSeconds: 30,
    needsApproval: true,
    skip: async (ctx) =>
      (await holders(ctx)).length > 0 ? undefined : 'no KV version holds the leaked value',
    plan: async (ctx) =>
      (await holders(ctx)).map((h) => ({
        action: `destroy version(s) ${h.versions.join(', ')} of ${h.path} — only if its current version no longer holds the value`,
        details: { path: h.path, versions: h.versions },
        destructive: true,
      })),
    run: async (ctx) => {
      const value = await leakedValue(deps, options);
      ctx.sensitive?.(value);
      const results = [];
      for (const { path, versions: diagnosed } of await holders(ctx)) {
        const live = await scanHolder(deps.vault, path, value);
        if (!live) {
          results.push({ path, destroyed: [] });
          continue;
        }
        if (live.current) {
          ctx.progress(`${path}: its current version still holds the leaked value; write a new one first`);
          results.push({ path, destroyed: [], kept_because: 'the current version still holds the value' });
          continue;
        }
        // Versions never change: those the diagnosis saw holding it still do, even once the
        // rotation soft-deleted them (their data stays until destroyed).
        const doomed = [...new Set([...diagnosed, ...live.versions])]
          .filter((v) => v !== live.current_version && !live.destroyed.includes(v))
          .sort((a, b) => a - b);
        if (doomed.length > 0) await deps.vault.kv(live.mount).destroy(live.relative, doomed);
        results.push({ path, destroyed: doomed });
      }
      return { evidence: { paths: results } };
    },
  };
}

/** The diff from its `---` line on, indented under the plan entry. */
const indentDiff = (diff: string) =>
  diff
    .slice(Math.max(0, diff.indexOf('---')))
    .trimEnd()
    .split('\n')
    .map((line) => `      ${line}`)
    .join('\n');

function tightenPoliciesStep(deps: RunbookDeps, diagnosis: Diagnosis): Step<LeakOptions> {
  const byPolicy = async (ctx: StepContext<LeakOptions>) => {
    const map = new Map<string, string[]>();
    for (const f of of(await diagnosis(ctx), 'policy-allows-leaked-path')) {
      const policy = str(f.evidence['policy']);
      map.set(policy, [...(map.get(policy) ?? []), str(f.evidence['path'])]);
    }
    return map;
  };
  const changes = async (ctx: StepContext<LeakOptions>) =>
    Promise.all(
      [...(await byPolicy(ctx))].map(async ([policy, paths]) => {
        const before = (await deps.vault.readPolicy(policy)) ?? '';
        const after = await denyPaths(
          policy,
          before,
          paths,
          `deny the leaked path(s), incident ${ctx.incidentId}`,
        );
        return { policy, paths, before, after, diff: policyDiff(policy, before, after) };
      }),
    );
  return {
    id: 'tighten-policies',
    title: 'Deny the leaked paths in the policies that let unexpected tokens read them',
    targetSeconds: 10,
    needsApproval: true,
    skip: async (ctx) =>
      (await byPolicy(ctx)).size > 0 ? undefined : 'no policy of an unexpected reader grants the path',
    plan: async (ctx) =>
      (await changes(ctx)).map((c) => ({
        // The diff is in the action too: the approval prompt and the dry run print actions as text.
        action: `policy ${c.policy}: add an exact-path deny rule for ${c.paths.join(', ')} (every token with this policy loses exactly these paths):\n${indentDiff(c.diff)}`,
        details: { policy: c.policy, paths: c.paths, diff: c.diff },
        destructive: true,
      })),
    run: async (ctx) => {
      const applied = [];
      for (const c of await changes(ctx)) {
        if (c.after !== c.before) await deps.vault.writePolicy(c.policy, c.after);
        applied.push({ policy: c.policy, paths: c.paths, changed: c.after !== c.before, diff: c.diff });
      }
      return { evidence: { policies: applied } };
    },
    verify: async (ctx) => {
      const checked = await Promise.all(
        [...(await byPolicy(ctx))].map(async ([policy, paths]) => {
          const rules = await parsePolicy(policy, (await deps.vault.readPolicy(policy)) ?? '');
          const granted = (p: string) =>
            ['read', 'update', 'create'].some((c) => grantsCapability(decidingRule(rules, p), c));
          return { policy, still_granted: paths.filter(granted) };
        }),
      );
      return { ok: checked.every((c) => c.still_granted.length === 0), evidence: { policies: checked } };
    },
  };
}

function secondAuditDeviceStep(deps: RunbookDeps, diagnosis: Diagnosis): Step<LeakOptions> {
  const finding = async (ctx: StepContext<LeakOptions>) => of(await diagnosis(ctx), 'single-audit-device')[0];
  return {
    id: 'second-audit-device',
    title: 'Enable a second audit device',
    targetSeconds: 30,
    needsApproval: true,
    skip: async (ctx) => ((await finding(ctx)) ? undefined : 'at least two audit devices are enabled'),
    plan: async (ctx) => {
      const f = (await finding(ctx))!;
      const nodes = editableNodes(deps.site?.nodeHosts);
      return nodes.length > 0
        ? [
            {
              action: `append the audit stanza to ${nodes.length} node configuration(s) and reload each server (SIGHUP)`,
              details: { node_configs: nodes.map((n) => n.config_file), stanza: f.evidence['stanza'] },
              destructive: true,
            },
          ]
        : [
            {
              action:
                "advise: add the audit stanza to every node's server configuration and reload (sealwatch cannot reach their configuration files)",
              details: { stanza: f.evidence['stanza'] },
            },
          ];
    },
    run: async (ctx) => {
      const f = (await finding(ctx))!;
      const stanza = str(f.evidence['stanza']);
      if ((await deps.vault.listAuditDevices()).length >= 2)
        return {
          evidence: { devices: (await deps.vault.listAuditDevices()).map((d) => d.path), changed: false },
        };
      const nodes = editableNodes(deps.site?.nodeHosts);
      if (nodes.length === 0) {
        ctx.progress(
          `add this to every node's server configuration, then reload each (kill -HUP <pid>):\n${stanza}`,
        );
        return { evidence: { advisory: true, stanza } };
      }
      // Every configuration first, then the active node's reload (it writes the device into the
      // replicated audit table), then the standbys': a standby reloaded first warns that the active
      // node does not declare the device yet.
      const leader = await deps.vault.leader().catch(() => undefined);
      const ordered = [...nodes].sort(
        (a, b) => Number(b.node === leader?.leader_address) - Number(a.node === leader?.leader_address),
      );
      const reloaded = [];
      const listed = async () => {
        const list = await deps.vault.listAuditDevices();
        return list.length >= 2 ? list : undefined;
      };
      for (const [i, node] of ordered.entries()) {
        try {
          reloaded.push({
            node: node.node,
            config_file: node.config_file,
            ...declareAndReload(node, stanza),
          });
        } catch (error) {
          reloaded.push({ node: node.node, config_file: node.config_file, error: errorMessage(error) });
        }
        if (i === 0 && node.node === leader?.leader_address)
          await waitFor('the active node to enable the second audit device', listed, {
            timeoutMs: 20_000,
            intervalMs: 200,
          }).catch(() => {
            // Only a head start for the active node; the wait just below fails with the reason.
          });
      }
      const devices = await waitFor('the second audit device to be enabled after the reload', listed, {
        timeoutMs: 20_000,
        intervalMs: 250,
      });
      return { evidence: { devices: devices.map((d) => d.path), nodes: reloaded } };
    },
  };
}

export const secretLeakRunbook: Runbook<LeakOptions> = {
  name: 'secret-leak',
  title: 'Secret or token leaked',
  when: 'a secret value or token turned up where it should not (a paste, a log, a repository, a report)',
  flags: [
    {
      flags: '--value-file <file>',
      description: 'file holding the leaked value (its path is journalled, never the value)',
      diagnose: true,
    },
    { flags: '--token-stdin', description: 'read a leaked token from standard input', diagnose: true },
    {
      flags: '--audit-log <file>',
      description: 'audit log to ingest before tracing (repeatable; default: the lab audit log)',
      diagnose: true,
      parse: (value, previous) => [...(Array.isArray(previous) ? (previous as string[]) : []), value],
    },
    {
      flags: '--expected-reader <prefix>',
      description:
        'display-name prefix of application tokens whose reads are expected (repeatable; default approle)',
      diagnose: true,
      parse: (value, previous) => [...(Array.isArray(previous) ? (previous as string[]) : []), value],
    },
    {
      flags: '--second-audit-file <file>',
      description: "where the second audit device writes (default: beside the first device's log)",
      diagnose: true,
    },
  ],
  options: optionsSchema,
  diagnose: diagnoseLeak,
  healthy: (findings) =>
    findings.every(
      (f) =>
        !LIVE.has(f.id) && !(f.id === 'single-audit-device' && f.evidence['config_files_known'] === true),
    ),
  remediation: (deps, options, diagnosis) => [
    revokeTokenStep(deps, diagnosis),
    revokeLeasesStep(deps, diagnosis),
    rotateStep(deps, diagnosis),
    destroyVersionsStep(deps, options, diagnosis),
    tightenPoliciesStep(deps, diagnosis),
    secondAuditDeviceStep(deps, diagnosis),
  ],
};
