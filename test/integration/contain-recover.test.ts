import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import type { StepContext, StepOutcome } from '../../src/playbook/step.js';
import {
  BLACKHOLE_CIDR,
  diffAuthExports,
  exportAuthConfig,
  isLockValue,
  readEncryptedExport,
  readExportKey,
  type AuthExport,
} from '../../src/respond/auth-export.js';
import { createContainStep } from '../../src/respond/steps/contain.step.js';
import { createPreserveStep } from '../../src/respond/steps/preserve.step.js';
import { createRecoverStep, type AppCredential } from '../../src/respond/steps/recover.step.js';
import { sealAllNodes, waitForUnseal } from '../../src/respond/unseal.js';
import { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';

const context = <S>(
  incidentId: string,
  options: S,
  outputs: Record<string, Record<string, unknown> | undefined> = {},
): StepContext<S> => ({
  incidentId,
  logger: silentLogger(),
  signal: new AbortController().signal,
  outputs,
  options,
  progress: () => undefined,
  sensitive: () => undefined,
});

/** Whether `token` can still be used: lookup-self is allowed by the default policy. */
async function tokenWorks(vault: VaultClient, token: string): Promise<boolean> {
  return vault.tokenLookupSelf(token).then(
    () => true,
    () => false,
  );
}

async function appLogin(vault: VaultClient, roleId: string, secretId: string): Promise<string | undefined> {
  return vault.write('auth/approle/login', { role_id: roleId, secret_id: secretId }, { token: null }).then(
    (res) => res?.auth?.client_token,
    () => undefined,
  );
}

describe('contain (lockdown) and recover against a real OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let storeDir: string;
  const incident = 'inc-lockdown';
  const outputs: Record<string, Record<string, unknown> | undefined> = {};
  const ALICE_PASSWORD = 'alice-test-password-1';
  /** Tokens that worked before the incident, by name. */
  const before: Record<string, string> = {};
  const handMadeAccessors: string[] = [];
  let exported: AuthExport;
  let keyFile: string;
  let newCredentials: readonly AppCredential[] = [];

  const preserve = () => createPreserveStep({ vault, storeDir });
  const contain = () => createContainStep({ vault, storeDir });
  const recover = () =>
    createRecoverStep({ vault, storeDir, onAppCredentials: (c) => void (newCredentials = c) });

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 2 });
    vault = lab.client();
    storeDir = mkdtempSync(join(tmpdir(), 'sealwatch-store-'));
    // The seeded password is not kept; give alice a known one (a write keeps her other fields).
    await vault.write('auth/userpass/users/alice', { password: ALICE_PASSWORD });
  });
  afterAll(async () => {
    await lab?.stop();
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  });

  it('before containment every pre-incident credential works', async () => {
    for (const app of lab.lab().apps) {
      const token = await appLogin(vault, app.role_id, app.secret_id);
      expect(token, `${app.role} logs in`).toBeDefined();
      before[`app:${app.role}`] = token!;
    }
    const alice = await vault.write(
      'auth/userpass/login/alice',
      { password: ALICE_PASSWORD },
      { token: null },
    );
    before['alice'] = alice!.auth!.client_token;
    const orphan = await vault.tokenCreate(
      { policies: ['operator'], display_name: 'stray-orphan' },
      { orphan: true },
    );
    before['orphan'] = orphan.client_token;
    const noTtl = await vault.tokenCreate({ policies: ['operator'], display_name: 'no-ttl', ttl: '0' });
    before['no-ttl'] = noTtl.client_token;
    for (const token of Object.values(before)) expect(await tokenWorks(vault, token)).toBe(true);
    // The lab's hand-made tokens (ci-deploy, backup-job, support-console): found by accessor.
    for (const accessor of await vault.tokenListAccessors()) {
      const info = await vault.tokenLookupAccessor(accessor);
      if (/ci-deploy|backup-job|support-console/.test(info.display_name)) handMadeAccessors.push(accessor);
    }
    expect(handMadeAccessors).toHaveLength(3);
  });

  it('preserve saves a checksummed snapshot and an encrypted export that only the key opens', async () => {
    const step = preserve();
    const ctx = context(incident, {});
    const outcome = await step.run(ctx);
    outputs['preserve'] = outcome.outputs;
    const out = outcome.outputs as {
      snapshot_file: string;
      snapshot_sha256: string;
      auth_export_file: string;
      export_key_file: string;
      export_key_generated: boolean;
    };
    expect(statSync(out.snapshot_file).size).toBeGreaterThan(1000);
    expect(readFileSync(`${out.snapshot_file}.sha256`, 'utf8')).toContain(out.snapshot_sha256);
    expect(out.export_key_generated).toBe(true);
    expect(statSync(out.export_key_file).mode & 0o777).toBe(0o600);
    const cipher = readFileSync(out.auth_export_file, 'utf8');
    for (const plain of ['mailer', 'billing', 'alice', 'token_policies', 'approle'])
      expect(cipher).not.toContain(plain);
    keyFile = out.export_key_file;
    exported = readEncryptedExport(out.auth_export_file, readExportKey(keyFile));
    const approle = exported.mounts.find((m) => m.path === 'approle/')!;
    expect(Object.keys(approle.roles)).toEqual(['billing', 'mailer']);
    expect(approle.roles['mailer']).toMatchObject({
      token_ttl: 3600,
      secret_id_ttl: 86400,
      token_policies: ['mailer'],
    });
    for (const app of lab.lab().apps) expect(approle.roleIds[app.role]).toBe(app.role_id);
    expect(exported.mounts.find((m) => m.path === 'userpass/')!.users['alice']).toMatchObject({
      token_policies: ['operator'],
    });
    expect(exported.mounts.find((m) => m.type === 'token')).toBeDefined();
    expect(Object.keys(exported.policies)).toEqual(expect.arrayContaining(['mailer', 'billing', 'operator']));
    expect(exported.notes.join(' ')).toMatch(/passwords cannot be read/);
    expect((outcome.evidence['audit_devices'] as unknown[]).length).toBeGreaterThan(0);
    expect((await step.verify!(ctx, outcome)).ok).toBe(true);

    // A re-run reuses the snapshot and the export.
    const again = await step.run(ctx);
    expect(again.evidence['snapshot']).toMatchObject({ reused: true, sha256: out.snapshot_sha256 });
    expect(again.evidence['auth_export']).toMatchObject({ reused: true, key_generated: false });
  });

  it("lockdown revokes every token but the responder's, destroys secret IDs and locks auth without losing it", async () => {
    const step = contain();
    const ctx = context(incident, { containment: 'lockdown' as const }, outputs);
    const plan = await step.plan(ctx);
    expect(plan.find((p) => /revoke every token/.test(p.action))?.details?.['tokens']).toBeGreaterThanOrEqual(
      10,
    );
    const outcome = await step.run(ctx);
    outputs['contain'] = outcome.outputs;
    const verified = await step.verify!(ctx, outcome);
    expect(verified.evidence).toMatchObject({
      responder_token_works: true,
      pre_incident_tokens_still_live: 0,
      other_live_tokens: 0,
      approle_secret_ids_left: 0,
      not_locked: [],
    });
    expect(verified.ok).toBe(true);

    for (const [name, token] of Object.entries(before))
      expect(await tokenWorks(vault, token), name).toBe(false);
    // A request with a revoked app token is refused (403), not just its lookup.
    await expect(
      vault.read('secret/data/tenants/tenant-0000/smtp', { token: before['app:mailer']! }),
    ).rejects.toThrow(/permission denied/);
    for (const accessor of handMadeAccessors)
      await expect(vault.tokenLookupAccessor(accessor)).rejects.toThrow();
    for (const app of lab.lab().apps)
      expect(await appLogin(vault, app.role_id, app.secret_id), app.role).toBeUndefined();
    // A secret ID issued now (by whoever still could) does not log in either: the role is bound to the blackhole.
    const fresh = (await vault.write<{ secret_id: string }>('auth/approle/role/mailer/secret-id'))!.data
      .secret_id;
    expect(await appLogin(vault, lab.lab().apps[0]!.role_id, fresh)).toBeUndefined();
    await vault.write('auth/approle/role/mailer/secret-id/destroy', { secret_id: fresh });
    const alice = await vault
      .write('auth/userpass/login/alice', { password: ALICE_PASSWORD }, { token: null })
      .then(
        (r) => r?.auth?.client_token,
        () => undefined,
      );
    if (alice) expect(await tokenWorks(vault, alice)).toBe(false);
    expect(await tokenWorks(vault, lab.lab().root_token)).toBe(true);

    // Every role is still there with its configuration; only the bound CIDRs changed.
    const during = await exportAuthConfig(vault);
    const approleNow = during.mounts.find((m) => m.path === 'approle/')!;
    const approleThen = exported.mounts.find((m) => m.path === 'approle/')!;
    expect(Object.keys(approleNow.roles)).toEqual(Object.keys(approleThen.roles));
    expect(approleNow.roleIds).toEqual(approleThen.roleIds);
    for (const [role, config] of Object.entries(approleThen.roles)) {
      const now = approleNow.roles[role]!;
      expect(isLockValue(now['secret_id_bound_cidrs'])).toBe(true);
      expect(isLockValue(now['token_bound_cidrs'])).toBe(true);
      const { secret_id_bound_cidrs: _a, token_bound_cidrs: _b, ...rest } = config;
      expect(now).toMatchObject(rest);
    }
    expect(diffAuthExports(exported, during).every((d) => /bound_cidrs differs/.test(d))).toBe(true);
  });

  it('running contain twice is fine: the export is reused, not replaced by the locked configuration', async () => {
    const step = contain();
    const ctx = context(incident, { containment: 'lockdown' as const }, outputs);
    const outcome = await step.run(ctx);
    expect((await step.verify!(ctx, outcome)).ok).toBe(true);
    expect(outcome.outputs?.['auth_export_file']).toBe(outputs['contain']!['auth_export_file']);
    // Without the preserve output, contain finds its incident's export rather than exporting the locked state.
    const alone = await createContainStep({ vault, storeDir }).run(context(incident, {}));
    expect(alone.evidence['lockdown']).toBeDefined();
    // A different incident has no pre-lockdown export: it refuses to record the lock as the original.
    await expect(createContainStep({ vault, storeDir }).run(context('inc-late', {}))).rejects.toThrow(
      /already locked down/,
    );
  });

  it('recover restores the configuration and every app logs in with a new secret ID', async () => {
    const step = recover();
    const ctx = context(incident, {}, outputs);
    const outcome = await step.run(ctx);
    expect(outcome.evidence['config_differences']).toEqual([]);
    expect((await step.verify!(ctx, outcome)).ok).toBe(true);
    expect(diffAuthExports(exported, await exportAuthConfig(vault))).toEqual([]);

    expect(newCredentials.map((c) => c.role).sort()).toEqual(['billing', 'mailer']);
    const serialised = JSON.stringify(outcome);
    for (const credential of newCredentials) {
      expect(serialised).not.toContain(credential.secret_id);
      const app = lab.lab().apps.find((a) => a.role === credential.role)!;
      expect(credential.role_id).toBe(app.role_id);
      const token = await appLogin(vault, credential.role_id, credential.secret_id);
      expect(token, credential.role).toBeDefined();
      expect(await tokenWorks(vault, token!)).toBe(true);
      // The secret ID from before the incident stays dead.
      expect(await appLogin(vault, app.role_id, app.secret_id)).toBeUndefined();
    }
    const alice = await vault.write(
      'auth/userpass/login/alice',
      { password: ALICE_PASSWORD },
      { token: null },
    );
    expect(await tokenWorks(vault, alice!.auth!.client_token)).toBe(true);

    // A re-run hands over new secret IDs and retires the ones it handed over before.
    const first = newCredentials;
    await step.run(ctx);
    expect(await appLogin(vault, first[0]!.role_id, first[0]!.secret_id)).toBeUndefined();
    expect(await appLogin(vault, newCredentials[0]!.role_id, newCredentials[0]!.secret_id)).toBeDefined();
  });

  it('a mount disabled on request is re-enabled with every role and role id on recover', async () => {
    const id = 'inc-disable';
    const out: Record<string, Record<string, unknown> | undefined> = {};
    out['preserve'] = (await preserve().run(context(id, {}))).outputs;
    out['contain'] = (await contain().run(context(id, { disable_auth_mounts: ['approle'] }, out))).outputs;
    expect(out['contain']!['disabled_mounts']).toEqual(['approle/']);
    expect((await vault.listAuthMounts())['approle/']).toBeUndefined();
    const recovered = await recover().run(context(id, {}, out));
    expect(recovered.evidence['restored']).toMatchObject({ mounts_reenabled: ['approle/'] });
    expect(recovered.evidence['config_differences']).toEqual([]);
    for (const credential of newCredentials)
      expect(await appLogin(vault, credential.role_id, credential.secret_id), credential.role).toBeDefined();
  });

  it('scale: contains 2,000 live tokens', async () => {
    const n = 2000;
    const limit = pLimit(32);
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        limit(() => vault.tokenCreate({ policies: ['default'], ttl: '1h', display_name: `load-${i}` })),
      ),
    );
    const created = Date.now() - t0;
    const id = 'inc-scale';
    const out: Record<string, Record<string, unknown> | undefined> = {};
    out['preserve'] = (await preserve().run(context(id, {}))).outputs;
    // As sealwatch runs with vault.max_connections: 64 (the lab client allows 16).
    const wide = new VaultClient({
      addresses: lab.lab().nodes.map((node) => node.address),
      token: lab.lab().root_token,
      timeoutMs: 30_000,
      retries: 2,
      maxConnections: 64,
      logger: silentLogger(),
    });
    const step = createContainStep({ vault: wide, storeDir });
    const ctx = context(id, {}, out);
    const start = Date.now();
    const outcome = await step.run(ctx);
    const elapsed = Date.now() - start;
    process.stderr.write(
      `[contain-scale] ${n} tokens created in ${created} ms; containment run took ${elapsed} ms ` +
        `(${JSON.stringify(outcome.evidence['lockdown'])})\n`,
    );
    expect((await step.verify!(ctx, outcome)).ok).toBe(true);
    expect(await vault.tokenListAccessors()).toHaveLength(1);
    await wide.close();
    await recover().run(context(id, {}, out));
  });
});

describe('seal-first containment on a 3-node OpenBao cluster', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let storeDir: string;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 1 });
    vault = lab.client();
    storeDir = mkdtempSync(join(tmpdir(), 'sealwatch-store-'));
  });
  afterAll(async () => {
    await lab?.stop();
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  });

  it('seals every node (sys/seal seals only the node it reaches), then waits for the key holders', async () => {
    const nodes = await sealAllNodes(vault);
    expect(nodes).toHaveLength(3);
    expect(nodes.every((n) => n.sealed === true)).toBe(true);
    for (const node of lab.lab().nodes) expect((await vault.health(node.address)).sealed).toBe(true);
    const messages: string[] = [];
    await expect(
      waitForUnseal(vault, { timeoutMs: 1500, intervalMs: 300, progress: (m) => messages.push(m) }),
    ).rejects.toThrow(/3 node\(s\) still sealed/);
    expect(messages.join('\n')).toMatch(/each needs 3 unseal key shares: bao operator unseal/);
  });

  it('with the unseal keys supplied, seal-first unseals every node itself and locks down', async () => {
    const app = lab.lab().apps[0]!;
    const step = createContainStep({ vault, storeDir, unsealKeys: () => lab.lab().unseal_keys });
    const ctx = context('inc-seal-first', { containment: 'seal-first' as const });
    let outcome: StepOutcome;
    outcome = await step.run(ctx);
    expect(outcome.evidence['sealed_first']).toEqual(
      lab.lab().nodes.map((n) => expect.objectContaining({ node: n.address, sealed: true })),
    );
    for (const node of lab.lab().nodes) expect((await vault.health(node.address)).sealed).toBe(false);
    expect((await step.verify!(ctx, outcome)).ok).toBe(true);
    expect(await appLogin(vault, app.role_id, app.secret_id)).toBeUndefined();
    expect(await tokenWorks(vault, lab.lab().root_token)).toBe(true);
    // A re-run does not seal the cluster again: the incident remembers it sealed first.
    outcome = await step.run(ctx);
    expect(outcome.evidence['sealed_first']).toBeUndefined();

    // lockdown + seal: sealed at the end.
    const sealing = createContainStep({ vault, storeDir });
    const sealCtx = context('inc-seal-first', { seal: true });
    const sealed = await sealing.run(sealCtx);
    expect(sealed.outputs?.['sealed']).toBe(true);
    expect((await sealing.verify!(sealCtx, sealed)).ok).toBe(true);

    // recover unseals with the "new" shares from the callback and restores the roles.
    let credentials: readonly AppCredential[] = [];
    const recovered = await createRecoverStep({
      vault,
      storeDir,
      newUnsealKeys: async () => lab.lab().unseal_keys,
      onAppCredentials: (c) => void (credentials = c),
    }).run(context('inc-seal-first', {}));
    expect(recovered.evidence['config_differences']).toEqual([]);
    expect(credentials).toHaveLength(2);
    for (const c of credentials) expect(await appLogin(vault, c.role_id, c.secret_id)).toBeDefined();
    expect(BLACKHOLE_CIDR).toBe('192.0.2.1/32');
  });
});
