import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import { META } from '../../src/rotate/rotation.engine.js';
import { RotationError } from '../../src/rotate/rotation.errors.js';
import { createRotation } from '../../src/rotate/rotation.service.js';
import type { Rotator, RotatorKind } from '../../src/rotate/rotator.js';
import { createApiKeyRotator } from '../../src/rotate/rotators/apikey.rotator.js';
import { createKvRotator } from '../../src/rotate/rotators/kv.rotator.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';

/**
 * The engine's protocol against a real OpenBao: what is in Vault after a run (versions, metadata,
 * deleted API keys), a rollback that restores the working value, and a Vault sealed mid-run that
 * leaves secrets resumable. Target systems are covered by each rotator's contract test; here the
 * kinds are Vault-only so that every outcome is visible in Vault.
 */
describe('rotation engine against real OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let store: Store;
  let dir: string;

  /** smtp and database secrets rotated as generic KV passwords; a hook lets a test break verify. */
  let breakVerifyFor: string | undefined;
  let onApply: ((tenant: string) => Promise<void>) | undefined;
  const registry = (): Record<RotatorKind, Rotator> => {
    const kv = createKvRotator({ fields: { password: { type: 'password', length: 40 } } });
    const flaky: Rotator = {
      ...kv,
      async apply(input) {
        await onApply?.(input.ref.tenant);
      },
      async verify(input) {
        if (input.ref.tenant === breakVerifyFor)
          throw new RotationError(
            input.ref.tenant,
            input.ref.kind,
            'verify',
            'the target refused the new password',
          );
        return kv.verify(input);
      },
    };
    return {
      kv,
      smtp: { ...flaky, kind: 'smtp' },
      postgres: { ...flaky, kind: 'postgres' },
      apikey: createApiKeyRotator({ issue_replacements: false }),
      ssh: kv,
      dkim: kv,
    };
  };

  const service = (gracePeriod = '0s') => {
    const base = loadConfig({ config: lab.configFile }, {});
    const config = {
      ...base,
      rotation: {
        ...base.rotation,
        attempts: 2,
        grace_period: gracePeriod,
        secrets: [
          { kind: 'smtp' as const, path: 'secret/tenants/{tenant}/smtp' },
          { kind: 'postgres' as const, path: 'secret/tenants/{tenant}/database' },
          { kind: 'apikey' as const, path: 'secret/api_keys/{tenant}/{key_id}' },
        ],
      },
    };
    return createRotation({ vault, store, config, rotators: registry(), logger: silentLogger() });
  };

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 8 });
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-rot-'));
    store = await Store.open(join(dir, 'store.db'));
  });
  afterAll(async () => {
    await store?.close();
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rotates each secret to a new current version, retires the old one and revokes every API key', async () => {
    const kv = vault.kv('secret');
    const before = (await kv.read<{ password: string }>('tenants/tenant-0001/smtp'))!;
    const rotation = service();
    const plan = await rotation.plan({ tenants: ['tenant-0001', 'tenant-0002'] });
    expect(plan.secrets.filter((s) => s.kind === 'apikey').map((s) => s.path)).toEqual([
      'secret/api_keys/tenant-0001/key-1',
      'secret/api_keys/tenant-0002/key-1',
      'secret/api_keys/tenant-0002/key-2',
    ]);
    const summary = await rotation.start({ tenants: ['tenant-0001', 'tenant-0002'] }, plan);
    expect(summary.failures).toEqual([]);
    expect(summary).toMatchObject({
      state: 'completed',
      rotated: 7,
      failed: 0,
      skipped: 0,
      rolled_back: 0,
      pending: 0,
    });
    expect(summary.by_kind).toEqual({
      smtp: { rotated: 2, failed: 0, skipped: 0, rolled_back: 0 },
      apikey: { rotated: 3, failed: 0, skipped: 0, rolled_back: 0 },
      postgres: { rotated: 2, failed: 0, skipped: 0, rolled_back: 0 },
    });

    const after = (await kv.read<{ password: string; username: string }>('tenants/tenant-0001/smtp'))!;
    expect(after.metadata.version).toBe(before.metadata.version + 1);
    expect(after.data.password).not.toBe(before.data.password);
    expect(after.data.username).toBe((before.data as { username?: string }).username);
    const meta = (await kv.readMetadata('tenants/tenant-0001/smtp'))!;
    expect(meta.custom_metadata).toMatchObject({
      [META.state]: 'current',
      [META.current]: String(after.metadata.version),
      [META.run]: summary.run_id,
    });
    // The old version is retired (soft-deleted): reading it gives nothing.
    expect(await kv.read('tenants/tenant-0001/smtp', before.metadata.version)).toBeUndefined();
    expect(await kv.list('api_keys/tenant-0001')).toEqual([]);
    expect(await kv.list('api_keys/tenant-0002')).toEqual([]);
    expect(await kv.list('api_keys/tenant-0003')).toEqual(['key-1', 'key-2', 'key-3']);
    expect(summary.records.map((r) => [r.tenant, r.event, r.details['keys']])).toEqual([
      ['tenant-0001', 'api_keys_revoked_emergency', 1],
      ['tenant-0002', 'api_keys_revoked_emergency', 2],
    ]);
  });

  it('rolls back a secret whose verification fails: the working value is the newest version again', async () => {
    const kv = vault.kv('secret');
    const before = (await kv.read<{ password: string }>('tenants/tenant-0003/smtp'))!;
    breakVerifyFor = 'tenant-0003';
    try {
      const rotation = service();
      const selection = { tenants: ['tenant-0003', 'tenant-0004'], kinds: ['smtp' as const] };
      const summary = await rotation.start(selection, await rotation.plan(selection));
      expect(summary).toMatchObject({
        state: 'completed_with_failures',
        rotated: 1,
        failed: 1,
        rolled_back: 1,
      });
      expect(summary.failures).toEqual([
        {
          tenant: 'tenant-0003',
          kind: 'smtp',
          phase: 'verified',
          reason: 'smtp of tenant tenant-0003: verify failed: the target refused the new password',
        },
      ]);
    } finally {
      breakVerifyFor = undefined;
    }
    const now = (await kv.read<{ password: string }>('tenants/tenant-0003/smtp'))!;
    expect(now.data.password).toBe(before.data.password);
    expect(now.metadata.version).toBe(before.metadata.version + 2);
    // The staged value, never used, is destroyed.
    const staged = (await kv.readMetadata('tenants/tenant-0003/smtp'))!.versions[
      String(before.metadata.version + 1)
    ];
    expect(staged?.destroyed).toBe(true);
    expect((await kv.readMetadata('tenants/tenant-0003/smtp'))!.custom_metadata?.[META.state]).toBe(
      'rolled_back',
    );
  });

  it('counts and reports a failure the store refuses to record, with the store error', async () => {
    const kv = vault.kv('secret');
    const before = (await kv.read<{ password: string }>('tenants/tenant-0001/smtp'))!;
    // The real store file refuses to record a secret's end (as a full disk or a lost lock would).
    const db = new Database(join(dir, 'store.db'));
    db.exec(
      "CREATE TRIGGER refuse_end BEFORE UPDATE ON rotation_items WHEN NEW.state IN ('failed', 'rolled_back') " +
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full (test trigger)'); END",
    );
    breakVerifyFor = 'tenant-0001';
    try {
      const rotation = service();
      const selection = { tenants: ['tenant-0001', 'tenant-0002'], kinds: ['smtp' as const] };
      const summary = await rotation.start(selection, await rotation.plan(selection));
      expect(summary).toMatchObject({
        state: 'completed_with_failures',
        rotated: 1,
        failed: 1,
        rolled_back: 1,
        pending: 0,
      });
      expect(summary.failures).toEqual([
        {
          tenant: 'tenant-0001',
          kind: 'smtp',
          phase: 'verified',
          reason:
            'smtp of tenant tenant-0001: verify failed: the target refused the new password (not recorded in the store: database or disk is full (test trigger); rotate resume retries it)',
        },
      ]);
      // the store itself still has the secret open, so resume takes it up again
      const stored = (await store.rotations.items(summary.run_id)).find((i) => i.tenant === 'tenant-0001')!;
      expect(stored.state).toBe('running');
    } finally {
      breakVerifyFor = undefined;
      db.exec('DROP TRIGGER refuse_end');
      db.close();
    }
    // the rollback itself happened in Vault: the working value is the newest version again
    expect((await kv.read<{ password: string }>('tenants/tenant-0001/smtp'))!.data.password).toBe(
      before.data.password,
    );
  });

  it('records unknown tenants and templates that match nothing, and goes on with the rest', async () => {
    const rotation = service();
    const selection = {
      tenants: ['tenant-0005', 'no-such-tenant', 'test-tenant-id'],
      kinds: ['smtp' as const, 'apikey' as const],
    };
    const plan = await rotation.plan(selection);
    expect(plan.unknown_tenants).toEqual(['no-such-tenant']);
    expect(plan.excluded).toEqual(['test-tenant-id']);
    await vault.kv('secret').deleteAll('api_keys/tenant-0005/key-1');
    const summary = await rotation.start(selection, plan);
    expect(summary.by_kind.smtp).toEqual({ rotated: 1, failed: 1, skipped: 0, rolled_back: 0 });
    expect(summary.by_kind.apikey).toMatchObject({ failed: 1 });
    expect(summary.failures.filter((f) => f.tenant === 'no-such-tenant').map((f) => f.reason)).toEqual([
      'unknown tenant no-such-tenant: not in the tenancy source',
      'unknown tenant no-such-tenant: not in the tenancy source',
    ]);
  });

  it('leaves secrets resumable when Vault seals mid-run, and resume finishes them', async () => {
    const node = lab.lab().nodes[0]!.address;
    let sealed = false;
    onApply = async (tenant) => {
      if (tenant === 'tenant-0007' && !sealed) {
        sealed = true;
        await vault.seal(node);
      }
    };
    const rotation = service();
    const selection = {
      tenants: ['tenant-0006', 'tenant-0007', 'tenant-0008'],
      kinds: ['smtp' as const, 'postgres' as const],
    };
    let first;
    try {
      first = await rotation.start({ ...selection, concurrency: 1 }, await rotation.plan(selection));
    } finally {
      onApply = undefined;
    }
    expect(first.state).toBe('interrupted');
    expect(first.pending).toBeGreaterThan(0);
    expect(first.failed).toBe(0);

    const keys = lab.lab().unseal_keys;
    for (const key of keys.slice(0, 3)) await vault.unseal(node, key);
    await expect.poll(async () => (await vault.health(node)).httpStatus, { timeout: 30_000 }).toBe(200);
    const resumed = await rotation.resume(first.run_id);
    expect(resumed).toMatchObject({ state: 'completed', rotated: 6, failed: 0, pending: 0 });
    const kv = vault.kv('secret');
    for (const tenant of ['tenant-0006', 'tenant-0007', 'tenant-0008']) {
      const meta = (await kv.readMetadata(`tenants/${tenant}/smtp`))!;
      expect(meta.custom_metadata?.[META.state]).toBe('current');
      expect(meta.custom_metadata?.[META.current]).toBe(String(meta.current_version));
    }
  });
});
