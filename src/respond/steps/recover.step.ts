import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { SealwatchError } from '../../errors.js';
import type { Step, StepContext } from '../../playbook/step.js';
import type { VaultClient } from '../../vault/client.js';
import { NotFoundError } from '../../vault/errors.js';
import {
  diffAuthExports,
  exportAuthConfig,
  importAuthConfig,
  lockedEntries,
  readEncryptedExport,
  readExportKey,
  type AuthExport,
} from '../auth-export.js';
import { incidentDirectory, incidentFiles, type IncidentFilesDeps } from '../incident-files.js';
import { waitForUnseal } from '../unseal.js';

export interface RecoverStepOptions {
  export_key_file?: string;
  /** How long to wait for the unseal with the new shares (default 1 h). */
  unseal_timeout_seconds?: number;
  /** Also write the exported ACL policies back (default false: containment does not change policies). */
  restore_policies?: boolean;
}

/** A newly issued AppRole credential: handed to the caller in memory, never journalled. */
export interface AppCredential {
  mount: string;
  role: string;
  role_id: string;
  secret_id: string;
  secret_id_accessor: string;
}

export interface RecoverStepDeps extends IncidentFilesDeps {
  vault: Pick<
    VaultClient,
    | 'addresses'
    | 'health'
    | 'unseal'
    | 'sealStatus'
    | 'listAuthMounts'
    | 'list'
    | 'read'
    | 'readOptional'
    | 'write'
    | 'listPolicies'
    | 'readPolicy'
    | 'writePolicy'
    | 'tokenLookupSelf'
    | 'tokenRevokeSelf'
  >;
  exportKeyFile?: string | undefined;
  /** The new unseal shares (the rekey step's, kept in memory); asked only when a node is sealed. */
  newUnsealKeys?: () => Promise<readonly string[] | undefined> | readonly string[] | undefined;
  /** Receives the new AppRole credentials (the lead writes them to lab.json on a lab, or to the deploy system). */
  onAppCredentials: (credentials: readonly AppCredential[]) => Promise<void> | void;
}

export interface RecoverOutputs {
  roles_restored: number;
  users_restored: number;
  mounts_reenabled: string[];
  logins_verified: number;
  config_differences: number;
}

const recoverStateSchema = z.object({
  /** Secret-ID accessors this step issued and handed over last; a re-run destroys them after handing over new ones. */
  issued: z.array(z.object({ mount: z.string(), role: z.string(), accessor: z.string() })),
});
type RecoverState = z.infer<typeof recoverStateSchema>;

/**
 * "Unseal with the new keys": unseal where sealed, put back the auth configuration containment
 * locked (bound CIDRs; a disabled mount re-enabled with its roles and role ids), then prove each
 * AppRole application can work again — a new secret ID per role, a login with it, a request with
 * the token — and hand the new secret IDs to the caller. The published runbook's `auth enable
 * approle` after `auth disable` would bring back an empty mount: every application broken.
 */
export function createRecoverStep(deps: RecoverStepDeps): Step<RecoverStepOptions> {
  return {
    id: 'recover',
    title: 'Recover: unseal with the new shares, restore auth, issue new application credentials',
    targetSeconds: 60 * 60,
    needsApproval: true,
    async plan(ctx) {
      // In a dry run nothing is exported yet: the plan then says what it will restore in general.
      let exported: ReturnType<typeof loadExport> | undefined;
      try {
        exported = loadExport(ctx);
      } catch {
        exported = undefined;
      }
      if (!exported)
        return [
          { action: 'unseal every sealed node with the new key shares (or wait for the key holders)' },
          { action: 'restore the auth configuration exported by the preserve step', destructive: true },
          { action: 'issue a new secret ID for every AppRole role, log in with it and use the token' },
        ];
      const approle = exported.mounts.filter((m) => m.type === 'approle');
      return [
        { action: 'unseal every sealed node with the new key shares (or wait for the key holders)' },
        {
          action:
            'restore the exported auth configuration (bound CIDRs back; re-enable and re-import any disabled mount)',
          details: {
            mounts: exported.mounts.length,
            roles: exported.mounts.reduce((n, m) => n + Object.keys(m.roles).length, 0),
            users: exported.mounts.reduce((n, m) => n + Object.keys(m.users).length, 0),
          },
          destructive: true,
        },
        {
          action:
            'issue a new secret ID for every AppRole role, log in with it and use the token; hand the new credentials to the caller',
          details: { roles: approle.flatMap((m) => Object.keys(m.roles).map((r) => `${m.path}${r}`)) },
        },
      ];
    },

    async run(ctx) {
      const { options, progress, signal } = ctx;
      const evidence: Record<string, unknown> = {};
      const health = await Promise.all(
        // An unreachable node is not waited for here: the restore calls below fail on it with its address.
        deps.vault.addresses.map((n) => deps.vault.health(n).catch(() => undefined)),
      );
      if (health.some((h) => h?.sealed)) {
        const keys = await deps.newUnsealKeys?.();
        keys?.forEach((k) => ctx.sensitive?.(k));
        const nodes = await waitForUnseal(deps.vault, {
          timeoutMs: (options.unseal_timeout_seconds ?? 3600) * 1000,
          unsealKeys: keys,
          signal,
          progress,
        });
        evidence['unsealed'] = {
          nodes,
          by: keys && keys.length > 0 ? 'sealwatch (new shares)' : 'key holders',
        };
      }

      const exported = loadExport(ctx);
      const imported = await importAuthConfig(deps.vault, exported, {
        policies: options.restore_policies ?? false,
      });
      progress(`restored ${imported.rolesWritten} roles and ${imported.usersWritten} users`);
      const differences = diffAuthExports(exported, await exportAuthConfig(deps.vault));

      const credentials: AppCredential[] = [];
      const logins: Record<string, unknown>[] = [];
      for (const mount of exported.mounts.filter((m) => m.type === 'approle')) {
        const base = `auth/${trim(mount.path)}`;
        for (const [role, config] of Object.entries(mount.roles)) {
          if (config['bind_secret_id'] === false) {
            logins.push({ mount: mount.path, role, login: 'skipped: the role does not use secret IDs' });
            continue;
          }
          const result = await issueAndLogin(ctx, base, role);
          credentials.push({ mount: mount.path, role, ...result.credential });
          logins.push({
            mount: mount.path,
            role,
            role_id_unchanged: result.credential.role_id === mount.roleIds[role],
            login: 'ok',
            token_works: result.tokenWorks,
            token_policies: result.policies,
          });
        }
      }

      // Hand over first, then retire what an earlier (cut-off) run issued: never leave an app without a working secret ID.
      await deps.onAppCredentials(credentials);
      const stateFile = incidentFiles(incidentDirectory(deps, ctx.incidentId)).recoverState;
      const previous = readState(stateFile);
      let retired = 0;
      for (const old of previous.issued) {
        if (credentials.some((c) => c.secret_id_accessor === old.accessor)) continue;
        try {
          await deps.vault.write(`auth/${trim(old.mount)}/role/${old.role}/secret-id-accessor/destroy`, {
            secret_id_accessor: old.accessor,
          });
          retired++;
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
      }
      writeFileSync(
        stateFile,
        JSON.stringify(
          {
            issued: credentials.map((c) => ({
              mount: c.mount,
              role: c.role,
              accessor: c.secret_id_accessor,
            })),
          },
          null,
          2,
        ) + '\n',
        { mode: 0o600 },
      );

      evidence['restored'] = {
        mounts_reenabled: imported.mountsEnabled,
        roles: imported.rolesWritten,
        role_ids: imported.roleIdsRestored,
        users: imported.usersWritten,
        users_needing_password: imported.usersNeedingPassword,
        policies: imported.policiesWritten,
      };
      evidence['config_differences'] = differences;
      evidence['logins'] = logins;
      evidence['credentials_handed_over'] = credentials.length;
      if (retired > 0) evidence['secret_ids_of_earlier_run_destroyed'] = retired;
      const outputs: RecoverOutputs = {
        roles_restored: imported.rolesWritten,
        users_restored: imported.usersWritten,
        mounts_reenabled: imported.mountsEnabled,
        logins_verified: credentials.length,
        config_differences: differences.length,
      };
      return { evidence, outputs: { ...outputs } };
    },

    async verify(ctx) {
      const exported = loadExport(ctx);
      const now = await exportAuthConfig(deps.vault);
      const differences = diffAuthExports(exported, now);
      const stillLocked = lockedEntries(now);
      return {
        ok: differences.length === 0 && stillLocked.length === 0,
        evidence: { config_differences: differences, still_locked: stillLocked },
      };
    },
  };

  function loadExport(ctx: StepContext<RecoverStepOptions>): AuthExport {
    const files = incidentFiles(incidentDirectory(deps, ctx.incidentId));
    const from = ctx.outputs['contain'] ?? ctx.outputs['preserve'];
    const file = typeof from?.['auth_export_file'] === 'string' ? from['auth_export_file'] : files.authExport;
    const keyFile =
      typeof from?.['export_key_file'] === 'string'
        ? from['export_key_file']
        : (deps.exportKeyFile ?? ctx.options.export_key_file ?? files.generatedExportKey);
    return readEncryptedExport(file, readExportKey(keyFile));
  }

  async function issueAndLogin(ctx: StepContext<RecoverStepOptions>, base: string, role: string) {
    const roleId = (await deps.vault.read<{ role_id: string }>(`${base}/role/${role}/role-id`)).data.role_id;
    const issued = (await deps.vault.write<{ secret_id: string; secret_id_accessor: string }>(
      `${base}/role/${role}/secret-id`,
    ))!.data;
    ctx.sensitive?.(issued.secret_id);
    const login = (await deps.vault.write(
      `${base}/login`,
      { role_id: roleId, secret_id: issued.secret_id },
      { token: null },
    ))!.auth!;
    ctx.sensitive?.(login.client_token);
    // The login token proves the credential; the application logs in itself, so this one is revoked.
    const self = await deps.vault.tokenLookupSelf(login.client_token);
    await deps.vault.tokenRevokeSelf(login.client_token);
    return {
      credential: {
        role_id: roleId,
        secret_id: issued.secret_id,
        secret_id_accessor: issued.secret_id_accessor,
      },
      tokenWorks: true,
      policies: self.policies,
    };
  }
}

function readState(file: string): RecoverState {
  if (!existsSync(file)) return { issued: [] };
  // Written by an earlier run of this step; a crash or a hand edit may have broken it.
  const state = recoverStateSchema.safeParse(parseJsonOrUndefined(readFileSync(file, 'utf8')));
  if (!state.success)
    throw new SealwatchError(
      'recover_state_invalid',
      `${file} is not the recover step's state (${state.error.issues[0]?.message ?? 'not JSON'}): it lists secret-ID accessors an earlier run issued; repair it or move it away`,
    );
  return state.data;
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: the schema check that follows names the file and says what to do.
    return undefined;
  }
}

const trim = (path: string) => path.replace(/^\/+|\/+$/g, '');
