import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineExportFile } from '../../src/posture/fixes/engine-unused.fix.js';
import { disableEngineFix } from '../../src/posture/fixes/engine-unused.fix.js';
import type { FixDeps } from '../../src/posture/fixes/fix.js';
import type { PostureFinding } from '../../src/posture/check.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startPlainBaoServer, type PlainBaoServer } from '../harness/bao-server.js';
import { postureCli } from '../harness/posture-cli.js';
import { runCli } from '../harness/cli.js';

const DB_PASSWORD = 'db-root-pw-never-exported-4471';
const KV_SECRET = 'kv-secret-value-still-here-9902';

/**
 * `sealwatch posture fix engines-unused:<mount>/` through the built CLI against a real OpenBao:
 * empty unused engines are exported (mount, tune and engine settings, no secret) and disabled; an
 * engine that still holds secrets, keys or leases is refused and keeps them; --dry-run changes
 * nothing; a token that cannot list the engine's content is refused, saying what it needs.
 */
describe('posture fix of unused secret engines against a real OpenBao', () => {
  let server: PlainBaoServer;
  let root: VaultClient;
  let scratch: string;
  let configFile: string;
  const { env, fix, findingIds } = postureCli(() => ({ server, scratch, configFile }));
  const unused = () => findingIds('engines-unused');
  const mounts = async () => Object.keys(await root.listMounts());
  /** A new KV v2 mount answers 400 "Upgrading from non-versioned to versioned data" for a moment. */
  const kvV2 = async (mount: string) => {
    await root.enableMount(mount, { type: 'kv', options: { version: '2' } });
    for (let attempt = 1; ; attempt++) {
      try {
        await root.read(`${mount}/config`);
        return;
      } catch (error) {
        // Still upgrading: asked again, 40 times at most (20 s), then the error is the test's.
        if (attempt >= 40 || !String(error).includes('Upgrading')) throw error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-engine-fix-test-'));
    configFile = join(scratch, 'sealwatch.yaml');
    writeFileSync(configFile, 'tenancy:\n  paths: ["secret/tenants/{tenant}/smtp"]\n');
    server = await startPlainBaoServer({ shares: 1, threshold: 1 });
    root = server.client();
    // One used engine, so the audit store has events in the window; the engines below are created
    // after the ingest, so the store has no read or write of them: they are unused.
    await kvV2('secret');
    await root.kv('secret').write('tenants/acme/smtp', { user: 'acme' });
    const ingest = await runCli(['audit', 'ingest', server.auditFile], {
      env: env(server.rootToken),
      cwd: scratch,
    });
    expect(ingest.code, ingest.stderr).toBe(0);

    // Empty, but configured: a database engine with a connection (its password set) and a role,
    // and a KV v2 engine with its own settings and a tuned TTL.
    await root.enableMount('olddb', { type: 'database', description: 'legacy reporting DB' });
    await root.write('olddb/config/reporting', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: 'postgresql://{{username}}:{{password}}@127.0.0.1:1/reporting',
      username: 'vaultadmin',
      password: DB_PASSWORD,
      verify_connection: false,
      allowed_roles: 'readonly',
    });
    await root.write('olddb/roles/readonly', {
      db_name: 'reporting',
      creation_statements: 'CREATE ROLE "{{name}}" WITH LOGIN PASSWORD \'{{password}}\';',
      default_ttl: '1h',
    });
    await kvV2('emptykv');
    await root.write('emptykv/config', { max_versions: 7, cas_required: true });
    await root.write('sys/mounts/emptykv/tune', { max_lease_ttl: '48h' });

    // Holding data: a KV secret, a transit key, an SSH one-time password's lease.
    await kvV2('oldkv');
    await root.kv('oldkv').write('apps/billing', { password: KV_SECRET });
    await root.enableMount('oldtransit', { type: 'transit' });
    await root.write('oldtransit/keys/payments', {});
    await root.enableMount('oldssh', { type: 'ssh' });
    await root.write('oldssh/roles/otp', { key_type: 'otp', default_user: 'ops', cidr_list: '10.0.0.0/8' });
    await root.write('oldssh/creds/otp', { ip: '10.1.2.3' });

    await kvV2('lockedkv');
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('--dry-run plans the export and the disable, and changes nothing', async () => {
    const ids = ['engines-unused:olddb/', 'engines-unused:emptykv/'];
    expect(await unused()).toEqual(expect.arrayContaining(ids));
    const exportDir = join(scratch, 'dry');
    const { result, json } = await fix([...ids, '--dry-run', '--export-dir', exportDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(json!.fixes.map((f) => f.status)).toEqual(['planned', 'planned']);
    expect(json!.fixes[0]!.actions).toEqual([
      expect.objectContaining({ details: { mount: 'olddb/', file: join(exportDir, 'secrets-olddb.json') } }),
      expect.objectContaining({ destructive: true }),
    ]);
    expect(await mounts()).toEqual(expect.arrayContaining(['olddb/', 'emptykv/']));
    expect(() => statSync(exportDir)).toThrow();
  });

  it('exports empty unused engines to 0600 files without secrets, then disables them', async () => {
    const ids = ['engines-unused:olddb/', 'engines-unused:emptykv/'];
    const exportDir = join(scratch, 'exports');
    const { result, json } = await fix([...ids, '--yes', '--export-dir', exportDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(json!.fixes).toEqual([
      expect.objectContaining({ status: 'fixed', evidence: expect.objectContaining({ disabled: true }) }),
      expect.objectContaining({ status: 'fixed', verify: expect.objectContaining({ finding_gone: ids[1] }) }),
    ]);
    const now = await mounts();
    expect(now).not.toContain('olddb/');
    expect(now).not.toContain('emptykv/');
    expect(now).toContain('secret/');

    const dbFile = join(exportDir, 'secrets-olddb.json');
    expect(statSync(dbFile).mode & 0o777).toBe(0o600);
    const dbText = readFileSync(dbFile, 'utf8');
    expect(dbText).not.toContain(DB_PASSWORD);
    const db = JSON.parse(dbText) as EngineExportFile;
    expect(db).toMatchObject({ format: 'sealwatch-mount-export/1', finding: ids[0], kind: 'secrets' });
    expect(db.mount).toMatchObject({ path: 'olddb/', type: 'database', description: 'legacy reporting DB' });
    expect(db.mount.settings['config/reporting']).toMatchObject({
      plugin_name: 'postgresql-database-plugin',
      allowed_roles: ['readonly'],
      connection_details: {
        connection_url: 'postgresql://{{username}}:{{password}}@127.0.0.1:1/reporting',
        username: 'vaultadmin',
      },
    });
    expect(db.mount.settings['roles/readonly']).toMatchObject({ db_name: 'reporting', default_ttl: 3600 });
    expect(db.checked_empty).toEqual(['olddb/static-roles/', 'sys/leases/lookup/olddb/']);

    const kv = JSON.parse(readFileSync(join(exportDir, 'secrets-emptykv.json'), 'utf8')) as EngineExportFile;
    expect(kv.mount).toMatchObject({ path: 'emptykv/', type: 'kv', options: { version: '2' } });
    expect(kv.mount.settings['config']).toMatchObject({ max_versions: 7, cas_required: true });
    expect(kv.mount.tune).toMatchObject({ max_lease_ttl: 48 * 3600 });

    const after = await unused();
    for (const id of ids) expect(after).not.toContain(id);
  });

  it('refuses engines that still hold secrets, keys or leases, which keep them', async () => {
    const ids = ['engines-unused:oldkv/', 'engines-unused:oldtransit/', 'engines-unused:oldssh/'];
    expect(await unused()).toEqual(expect.arrayContaining(ids));
    const { result, json } = await fix([...ids, '--yes', '--export-dir', join(scratch, 'refused')]);
    expect(result.code).toBe(1);
    expect(json!.fixes.map((f) => f.status)).toEqual(['refused', 'refused', 'refused']);
    const [kv, transit, ssh] = json!.fixes.map((f) => f.reason!);
    expect(kv).toContain('1 secret(s) or folder(s), deleted versions included under oldkv/metadata/ (apps/)');
    expect(kv).toContain('sealwatch backup snapshot');
    expect(transit).toContain('encryption key(s)');
    expect(transit).toContain('(payments)');
    expect(ssh).toContain('live lease prefix(es)');
    expect(JSON.stringify(json)).not.toContain(KV_SECRET);

    expect(await mounts()).toEqual(expect.arrayContaining(['oldkv/', 'oldtransit/', 'oldssh/']));
    expect((await root.kv('oldkv').read('apps/billing'))?.data).toEqual({ password: KV_SECRET });
    expect(await root.list('oldtransit/keys')).toEqual(['payments']);
    expect(() => statSync(join(scratch, 'refused'))).toThrow();
  });

  it('refuses when the token cannot list what the engine holds, naming the capability', async () => {
    await root.writePolicy('mounts-only', 'path "sys/mounts" { capabilities = ["read"] }\n');
    const token = (await root.tokenCreate({ policies: ['mounts-only'], ttl: '1h' })).client_token;
    const { result, json } = await fix(['engines-unused:lockedkv/', '--yes'], token);
    expect(result.code).toBe(1);
    expect(json!.fixes[0]).toMatchObject({
      status: 'refused',
      reason: expect.stringContaining('could not list lockedkv/metadata/ (needs list on lockedkv/metadata/)'),
    });
    expect(await mounts()).toContain('lockedkv/');
  });

  it('never disables the built-in engines, asked directly', async () => {
    const deps = { vault: root, exportDir: join(scratch, 'builtin') } as unknown as FixDeps;
    for (const [mount, type] of [
      ['sys/', 'system'],
      ['identity/', 'identity'],
      ['cubbyhole/', 'cubbyhole'],
    ] as const) {
      const finding: PostureFinding = {
        id: `engines-unused:${mount}`,
        check: 'engines-unused',
        area: 'engines',
        severity: 'low',
        title: mount,
        evidence: { mount, type },
        why: '',
        fix: '',
      };
      expect(disableEngineFix.handles(finding)).toBe(true);
      expect(await disableEngineFix.refuse!(finding, deps)).toContain('never disabled');
      await expect(
        disableEngineFix.apply(finding, deps, {} as Parameters<typeof disableEngineFix.apply>[2]),
      ).rejects.toThrow(/never disabled/);
    }
    expect(await mounts()).toEqual(expect.arrayContaining(['sys/', 'identity/', 'cubbyhole/']));
  });

  it('reports a mount already gone on a resumed run, without touching anything', async () => {
    // As a resumed step sees it: the engine was disabled before the journal recorded the step's end.
    const deps = { vault: root, exportDir: join(scratch, 'exports') } as unknown as FixDeps;
    const finding: PostureFinding = {
      id: 'engines-unused:emptykv/',
      check: 'engines-unused',
      area: 'engines',
      severity: 'low',
      title: 'emptykv/',
      evidence: { mount: 'emptykv/', type: 'kv' },
      why: '',
      fix: '',
    };
    expect(await mounts()).not.toContain('emptykv/');
    const outcome = await disableEngineFix.apply(
      finding,
      deps,
      {} as Parameters<typeof disableEngineFix.apply>[2],
    );
    expect(outcome.evidence).toEqual({
      mount: 'emptykv/',
      disabled: false,
      already_gone: true,
      file: join(scratch, 'exports', 'secrets-emptykv.json'),
    });
  });
});
