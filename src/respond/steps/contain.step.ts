import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { PlanEntry, Step, StepContext } from '../../playbook/step.js';
import type { VaultClient } from '../../vault/client.js';
import { BadRequestError } from '../../vault/errors.js';
import {
  authLockTargets,
  ensureAuthExport,
  isLockValue,
  readEncryptedExport,
  readExportKey,
  BLACKHOLE_CIDR,
  type AuthExport,
} from '../auth-export.js';
import { incidentDirectory, incidentFiles, type IncidentFilesDeps } from '../incident-files.js';
import {
  countLockdown,
  describeResponder,
  keptAlive,
  lockdown,
  type LockdownReport,
  type Responder,
} from '../lockdown.js';
import { sealAllNodes, waitForUnseal, type NodeSealState } from '../unseal.js';
import type { RevokedAccessorRepository } from '../../store/repositories/revoked-accessors.repository.js';
import { toSortableUtc } from '../../util/time.js';
import { errorMessage } from '../../errors.js';
import pLimit from 'p-limit';

export type ContainmentMode = 'lockdown' | 'seal-first';

export interface ContainStepOptions {
  /** lockdown (default): revoke, destroy, lock, then seal if asked. seal-first: seal at once, lock down after the unseal. */
  containment?: ContainmentMode;
  /** Seal every node after the lockdown. */
  seal?: boolean;
  /** Auth mounts the operator wants disabled (exported first, re-enabled by recover). Never done unless named. */
  disable_auth_mounts?: string[];
  export_key_file?: string;
  /** How long seal-first waits for the unseal (default 1 h). */
  unseal_timeout_seconds?: number;
}

export interface ContainStepDeps extends IncidentFilesDeps {
  vault: Pick<
    VaultClient,
    | 'addresses'
    | 'health'
    | 'seal'
    | 'unseal'
    | 'sealStatus'
    | 'tokenLookupSelf'
    | 'tokenLookupAccessor'
    | 'tokenListAccessors'
    | 'tokenRevokeAccessor'
    | 'leaseRevokePrefix'
    | 'leaseList'
    | 'listAuthMounts'
    | 'disableAuth'
    | 'list'
    | 'read'
    | 'readOptional'
    | 'write'
    | 'listPolicies'
    | 'readPolicy'
    | 'listAuditDevices'
    | 'auditHash'
  >;
  exportKeyFile?: string | undefined;
  /** The current unseal shares when the operator gave them (--unseal-keys-file): seal-first then unseals itself. */
  unsealKeys?: () => readonly string[] | undefined;
  /** Parallel per-token revocations and secret-ID destructions (default 64; the client's maxConnections caps it). */
  concurrency?: number;
  /** Pre-incident tokens sampled for the verification (default 20). */
  sampleSize?: number;
  /** Where the tripwire's revoked accessors are recorded (the store); without it they are not. */
  revokedAccessors?: Pick<RevokedAccessorRepository, 'record'>;
}

export interface ContainOutputs {
  mode: ContainmentMode;
  auth_export_file: string;
  export_key_file: string;
  disabled_mounts: string[];
  locked: number;
  sealed: boolean;
}

interface ContainState {
  sealed_first_at?: string;
  unsealed_at?: string;
  lockdown_at?: string;
  sealed_after_at?: string;
}

/**
 * "Immediate containment (< 5 min)". The published runbook seals first and then runs `auth
 * disable` and `token revoke`, which a sealed Vault refuses, and `auth disable` deletes every
 * AppRole role. Here: lockdown revokes every token and lease but the responder's, destroys every
 * AppRole secret ID, binds every role and user to an unroutable CIDR (configuration kept, exported
 * first), and seals only afterwards if asked; seal-first seals every node at once and does the
 * lockdown as soon as Vault is unsealed again.
 */
export function createContainStep(deps: ContainStepDeps): Step<ContainStepOptions> {
  /** Pre-incident accessors sampled by run, checked by verify (in memory: accessors are not journalled). */
  let sample: string[] = [];
  let responder: Responder | undefined;

  const mode = (options: ContainStepOptions): ContainmentMode => options.containment ?? 'lockdown';

  return {
    id: 'contain',
    title: 'Contain: revoke tokens and leases, destroy secret IDs, lock auth',
    targetSeconds: 5 * 60,
    needsApproval: true,
    async plan(ctx) {
      const entries: PlanEntry[] = [];
      if (mode(ctx.options) === 'seal-first')
        entries.push({
          action: 'seal every node now (standbys first, then the active node); wait until Vault is unsealed',
          destructive: true,
        });
      const health = await Promise.all(
        // Only for the plan's wording: a node that does not answer serves no API call, like a sealed one.
        deps.vault.addresses.map((n) => deps.vault.health(n).catch(() => undefined)),
      );
      const sealed = health.every((h) => h === undefined || h.sealed);
      if (sealed) {
        entries.push({ action: 'Vault is sealed: the lockdown counts are read once it is unsealed' });
      } else {
        // Refuses here, before anything changes, a token that lockdown could not keep alive.
        const self = await describeResponder(deps.vault);
        // Plan only: without an earlier export the counts are read live.
        const exported = await existingExport(ctx).catch(() => undefined);
        const counts = await countLockdown(deps.vault, exported);
        entries.push(
          { action: keptAlive(self), details: { mount: self.mount, path: self.path } },
          {
            action: "revoke every token except the responder's (by auth-mount prefix, then by accessor)",
            details: { tokens: counts.tokens },
            destructive: true,
          },
          { action: 'revoke every lease by prefix', details: { leases: counts.leases }, destructive: true },
          {
            action: 'destroy every AppRole secret ID',
            details: { secret_ids: counts.secretIds },
            destructive: true,
          },
          {
            action: `lock auth: bind every AppRole role, userpass user, token role and jwt/oidc role to ${BLACKHOLE_CIDR} (configuration kept; restored by recover)`,
            details: {
              auth_mounts: counts.authMounts,
              roles_and_users: counts.lockTargets || 'counted from the export',
            },
            destructive: true,
          },
        );
      }
      for (const mount of ctx.options.disable_auth_mounts ?? [])
        entries.push({
          action: `disable auth mount ${mount} (after the export; recover re-enables it and re-imports its roles)`,
          destructive: true,
        });
      if (ctx.options.seal) entries.push({ action: 'seal every node after the lockdown', destructive: true });
      return entries;
    },

    async run(ctx) {
      const { options, progress, signal, incidentId } = ctx;
      const dir = incidentDirectory(deps, incidentId);
      const files = incidentFiles(dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const state = readState(files.containState);
      const save = () =>
        writeFileSync(files.containState, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
      const evidence: Record<string, unknown> = { mode: mode(options) };

      if (mode(options) === 'seal-first') {
        if (!state.sealed_first_at) {
          const nodes = await sealAllNodes(deps.vault);
          state.sealed_first_at = new Date().toISOString();
          save();
          progress(`sealed: ${describeNodes(nodes)}`);
          evidence['sealed_first'] = nodes;
        }
        const keys = deps.unsealKeys?.();
        const unsealed = await waitForUnseal(deps.vault, {
          timeoutMs: (options.unseal_timeout_seconds ?? 3600) * 1000,
          unsealKeys: keys,
          signal,
          progress,
        });
        state.unsealed_at ??= new Date().toISOString();
        save();
        evidence['unsealed'] = {
          nodes: unsealed,
          by: keys && keys.length > 0 ? 'sealwatch (operator-supplied shares)' : 'key holders',
        };
      }

      responder = await describeResponder(deps.vault);
      progress(keptAlive(responder));
      const ensured = await exportFor(ctx);
      sample = await sampleAccessors(responder.accessor);
      const report = await lockdown(deps.vault, {
        exported: ensured.exported,
        responder,
        disableMounts: options.disable_auth_mounts ?? [],
        concurrency: deps.concurrency ?? 64,
        progress,
        signal,
        recordRevoked: deps.revokedAccessors
          ? (accessors) => recordForTripwire(deps, deps.revokedAccessors!, accessors, incidentId, progress)
          : undefined,
      });
      state.lockdown_at = new Date().toISOString();
      save();
      const check = await checkContainment(ensured.exported, report);
      evidence['lockdown'] = summarise(report);
      evidence['check'] = check.evidence;

      let sealed = false;
      if (options.seal) {
        const nodes = await sealAllNodes(deps.vault);
        state.sealed_after_at ??= new Date().toISOString();
        save();
        sealed = nodes.every((n) => n.sealed !== false);
        evidence['sealed_after'] = nodes;
        progress(`sealed after lockdown: ${describeNodes(nodes)}`);
      }
      const outputs: ContainOutputs = {
        mode: mode(options),
        auth_export_file: ensured.file,
        export_key_file: ensured.keyFile,
        disabled_mounts: report.disabledMounts,
        locked: report.locked.length,
        sealed,
      };
      return { evidence, outputs: { ...outputs } };
    },

    async verify(ctx, outcome) {
      const out = outcome.outputs as Partial<ContainOutputs> | undefined;
      if (out?.sealed) {
        const health = await Promise.all(
          // A node that does not answer serves no request either; the evidence names it as unreachable.
          deps.vault.addresses.map((n) => deps.vault.health(n).catch(() => undefined)),
        );
        const allSealed = health.every((h) => h === undefined || h.sealed);
        return {
          ok: allSealed,
          evidence: {
            sealed: health.map((h, i) => ({
              node: deps.vault.addresses[i],
              sealed: h?.sealed ?? 'unreachable',
            })),
            tokens: 'checked after the lockdown, before sealing (see the step evidence)',
            check_before_seal: outcome.evidence['check'],
          },
        };
      }
      const ensured = await exportFor(ctx);
      const check = await checkContainment(ensured.exported, undefined);
      return { ok: check.ok, evidence: check.evidence };
    },
  };

  async function existingExport(ctx: StepContext<ContainStepOptions>): Promise<AuthExport | undefined> {
    const files = incidentFiles(incidentDirectory(deps, ctx.incidentId));
    const fromPreserve = ctx.outputs['preserve'];
    const file =
      typeof fromPreserve?.['auth_export_file'] === 'string'
        ? fromPreserve['auth_export_file']
        : files.authExport;
    const keyFile =
      typeof fromPreserve?.['export_key_file'] === 'string'
        ? fromPreserve['export_key_file']
        : (deps.exportKeyFile ?? ctx.options.export_key_file ?? files.generatedExportKey);
    if (!existsSync(file) || !existsSync(keyFile)) return undefined;
    return readEncryptedExport(file, readExportKey(keyFile));
  }

  /** The preserve step's export when it ran; otherwise this incident's own, made now (before anything is locked). */
  async function exportFor(ctx: StepContext<ContainStepOptions>) {
    const files = incidentFiles(incidentDirectory(deps, ctx.incidentId));
    const fromPreserve = ctx.outputs['preserve'];
    const preservedFile = fromPreserve?.['auth_export_file'];
    const preservedKey = fromPreserve?.['export_key_file'];
    if (typeof preservedFile === 'string' && typeof preservedKey === 'string')
      return {
        exported: readEncryptedExport(preservedFile, readExportKey(preservedKey)),
        file: preservedFile,
        keyFile: preservedKey,
      };
    const ensured = await ensureAuthExport(deps.vault, {
      file: files.authExport,
      keyFile: deps.exportKeyFile ?? ctx.options.export_key_file,
      generatedKeyFile: files.generatedExportKey,
    });
    if (ensured.keyGenerated) {
      const warning = `NO EXPORT KEY FILE WAS NAMED: a new AES-256 key was written to ${ensured.keyFile} (mode 0600); move it somewhere safe, recovery needs it`;
      ctx.logger.warn({ keyFile: ensured.keyFile }, warning);
      ctx.progress(`!!! ${warning}`);
    }
    return ensured;
  }

  async function sampleAccessors(own: string): Promise<string[]> {
    if (sample.length > 0) return sample;
    const all = (await deps.vault.tokenListAccessors()).filter((a) => a !== own);
    const size = deps.sampleSize ?? 20;
    // Spread over the list rather than its head: the head is ordered by hash, not by age.
    const step = Math.max(1, Math.floor(all.length / size));
    return all.filter((_, i) => i % step === 0).slice(0, size);
  }

  /** The effect in Vault: sampled tokens refused, no token left but the responder's, no secret ID, every lock in place. */
  async function checkContainment(exported: AuthExport, report: LockdownReport | undefined) {
    const self = await deps.vault.tokenLookupSelf().then(
      (info) => ({ ok: true, accessor: info.accessor }),
      (error: Error) => ({ ok: false, error: error.message }),
    );
    const own = 'accessor' in self ? self.accessor : responder?.accessor;
    const sampledStillLive: number[] = [];
    await Promise.all(
      sample.map(async (accessor, i) => {
        const live = await deps.vault.tokenLookupAccessor(accessor).then(
          () => true,
          (error: unknown) => {
            // 400 "invalid accessor": revoked. Any other answer is not a proof either way.
            if (error instanceof BadRequestError) return false;
            throw error;
          },
        );
        if (live) sampledStillLive.push(i);
      }),
    );
    const survivors = (await deps.vault.tokenListAccessors()).filter((a) => a !== own).length;
    let secretIds = 0;
    const mounts = await deps.vault.listAuthMounts();
    for (const [mount, info] of Object.entries(mounts)) {
      if (info.type !== 'approle') continue;
      for (const role of await deps.vault.list(`auth/${trim(mount)}/role`))
        secretIds += (await deps.vault.list(`auth/${trim(mount)}/role/${role}/secret-id`)).length;
    }
    const { targets } = authLockTargets(exported);
    const unlocked: string[] = [];
    for (const target of targets) {
      if (!mounts[target.mount]) continue; // disabled on purpose
      const now = await deps.vault.readOptional(target.path);
      if (now && !Object.keys(target.lock).every((field) => isLockValue(now.data[field])))
        unlocked.push(`${target.mount}${target.name}`);
    }
    const ok =
      self.ok && sampledStillLive.length === 0 && survivors === 0 && secretIds === 0 && unlocked.length === 0;
    return {
      ok,
      evidence: {
        responder_token_works: self.ok,
        pre_incident_tokens_sampled: sample.length,
        pre_incident_tokens_still_live: sampledStillLive.length,
        other_live_tokens: survivors,
        approle_secret_ids_left: secretIds,
        lock_targets: targets.length,
        not_locked: unlocked,
        ...(report ? {} : { note: 'verified after the run' }),
      },
    };
  }
}

function summarise(report: LockdownReport) {
  return {
    revoked_prefixes: report.revokedPrefixes,
    per_token_mounts: report.perTokenMounts,
    tokens_revoked_by_accessor: report.tokensRevokedByAccessor,
    tokens_already_gone: report.tokensAlreadyGone,
    secret_ids_destroyed: report.secretIdsDestroyed,
    locked: report.locked.length,
    locked_by_kind: report.locked.reduce<Record<string, number>>(
      (acc, l) => ({ ...acc, [l.kind]: (acc[l.kind] ?? 0) + 1 }),
      {},
    ),
    unlockable_mounts: report.unlockable,
    disabled_mounts: report.disabledMounts,
  };
}

function readState(file: string): ContainState {
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as ContainState;
}

function describeNodes(nodes: NodeSealState[]): string {
  return nodes
    .map(
      (n) =>
        `${n.node} ${n.sealed === undefined ? `unreachable (${n.error ?? ''})` : n.sealed ? 'sealed' : 'UNSEALED'}`,
    )
    .join(', ');
}

const trim = (path: string) => path.replace(/^\/+|\/+$/g, '');

/**
 * Records the revoked accessors for the tripwire, raw and, for each audit device that HMACs
 * accessors (`hmac_accessor` on, OpenBao's default), as that device writes them (sys/audit-hash):
 * the stored events carry whichever form their device wrote. A device that cannot be asked leaves
 * the raw accessors recorded and says so; containment itself never fails for the tripwire.
 */
async function recordForTripwire(
  deps: Pick<ContainStepDeps, 'vault' | 'concurrency'>,
  store: Pick<RevokedAccessorRepository, 'record'>,
  accessors: readonly string[],
  incidentId: string,
  progress: (message: string) => void,
): Promise<void> {
  const revokedAt = toSortableUtc(new Date().toISOString())!;
  await store.record(accessors, incidentId, revokedAt);
  let devices: { path: string }[];
  try {
    devices = (await deps.vault.listAuditDevices()).filter((d) => d.options?.['hmac_accessor'] !== 'false');
  } catch (error) {
    progress(
      `tripwire: could not list the audit devices (${errorMessage(error)}; needs sudo on sys/audit): revoked accessors recorded raw only, so a device that HMACs accessors will not be matched`,
    );
    return;
  }
  const limit = pLimit(deps.concurrency ?? 64);
  for (const device of devices) {
    try {
      const hashed = await Promise.all(
        accessors.map((accessor) => limit(() => deps.vault.auditHash(device.path, accessor))),
      );
      await store.record(hashed, incidentId, revokedAt);
    } catch (error) {
      progress(
        `tripwire: could not hash accessors through sys/audit-hash/${device.path.replace(/\/$/, '')} (${errorMessage(error)}): uses logged by that device are not matched`,
      );
    }
  }
}
