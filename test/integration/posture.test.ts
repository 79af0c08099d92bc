import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { PostureCheck, PostureFinding } from '../../src/posture/check.js';
import { sealCheck } from '../../src/posture/checks/seal.check.js';
import { createPosture, type PostureDiff, type PostureReport } from '../../src/posture/posture.service.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startPlainBaoServer, type PlainBaoServer } from '../harness/bao-server.js';
import { runCli } from '../harness/cli.js';
import { sarifValidator } from '../harness/sarif-schema.js';
import { POSTURE_CHECK_IDS } from '../../src/posture/checks/index.js';

/**
 * `sealwatch posture` through the built CLI against real OpenBao servers configured wrong on
 * purpose: Shamir 1 of 1, a listener without TLS on every interface, one audit device, root and
 * long-lived tokens, an unused userpass mount, an AppRole role without limits. Each finding is
 * seen, the state fixed for real, and the finding gone.
 */
describe('posture against a real OpenBao configured wrong on purpose', () => {
  let server: PlainBaoServer;
  let root: VaultClient;
  let scratch: string;
  const env = (token: string) => ({
    BAO_ADDR: server.address,
    BAO_TOKEN: token,
    SEALWATCH_STORE: join(scratch, 'store.db'),
  });
  const posture = (args: string[], token = server.rootToken) =>
    runCli(['posture', ...args], { env: env(token), cwd: scratch, timeoutMs: 120_000 });
  const report = async (args: string[] = [], token?: string) => {
    const result = await posture(['--format', 'json', ...args], token);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    return result.json<PostureReport>();
  };
  const ids = (r: { findings: PostureFinding[] }) => r.findings.map((f) => f.id);

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-test-'));
    server = await startPlainBaoServer({ shares: 1, threshold: 1, listenAll: true });
    root = server.client();
    await root.enableAuth('userpass', { type: 'userpass' });
    await root.enableAuth('approle', { type: 'approle' });
    await root.write('auth/approle/role/loose', { token_policies: 'default' });
    await root.write('auth/approle/role/tight', {
      token_policies: 'default',
      secret_id_ttl: '1h',
      secret_id_num_uses: 1,
      token_ttl: '15m',
      secret_id_bound_cidrs: '127.0.0.1/32',
    });
    // One real AppRole login, so the approle mount is in use and userpass is not.
    const roleId = (await root.read<{ role_id: string }>('auth/approle/role/loose/role-id')).data.role_id;
    const secretId = (await root.write<{ secret_id: string }>('auth/approle/role/loose/secret-id'))!.data
      .secret_id;
    await root.write('auth/approle/login', { role_id: roleId, secret_id: secretId }, { token: null });
    const ingest = await runCli(['audit', 'ingest', server.auditFile], {
      env: env(server.rootToken),
      cwd: scratch,
    });
    expect(ingest.code, ingest.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('finds a root token left alive, and no longer once it is revoked', async () => {
    const leftover = await root.tokenCreate({ policies: ['root'], display_name: 'leftover' });
    const before = await report(['--only', 'root-tokens']);
    const finding = before.findings.find((f) => f.id === `root-tokens:accessor:${leftover.accessor}`);
    expect(finding).toMatchObject({ severity: 'high', area: 'tokens', check: 'root-tokens' });
    expect(finding!.fix).toBe(`bao token revoke -accessor ${leftover.accessor}`);
    expect(JSON.stringify(before)).not.toContain(leftover.client_token);

    await root.tokenRevokeAccessor(leftover.accessor);
    const after = await report(['--only', 'root-tokens']);
    expect(ids(after)).not.toContain(`root-tokens:accessor:${leftover.accessor}`);
    expect(after.checks).toEqual([expect.objectContaining({ id: 'root-tokens', status: 'findings' })]);
  });

  it('finds long-lived, periodic and orphan tokens', async () => {
    const long = await root.tokenCreate({ policies: ['default'], ttl: '700h' });
    const periodic = await root.tokenCreate({ policies: ['default'], period: '24h' });
    const orphan = await root.tokenCreate({ policies: ['default'], ttl: '1h' }, { orphan: true });
    const r = await report(['--only', 'token-ttl']);
    expect(r.findings.find((f) => f.id === `token-ttl:long-ttl:${long.accessor}`)).toMatchObject({
      severity: 'medium',
      evidence: expect.objectContaining({ creation_ttl: 700 * 3600 }),
    });
    expect(ids(r)).toContain(`token-ttl:periodic:${periodic.accessor}`);
    expect(ids(r)).toContain(`token-ttl:orphan:${orphan.accessor}`);
    // A short-lived child token is fine.
    const fine = await root.tokenCreate({ policies: ['default'], ttl: '1h' });
    expect(ids(await report(['--only', 'token-ttl'])).filter((id) => id.endsWith(fine.accessor))).toEqual([]);
  });

  it('finds the system and auth-mount lease TTLs above posture.max_mount_ttl, and not once tuned', async () => {
    const config = join(scratch, 'strict.yaml');
    writeFileSync(config, 'posture:\n  max_mount_ttl: 100h\n');
    const before = await report(['--only', 'token-ttl', '--config', config]);
    expect(before.findings.find((f) => f.id === 'token-ttl:system:max_lease_ttl')).toMatchObject({
      severity: 'medium',
      evidence: { max_lease_ttl: 768 * 3600, configured: 0, max_mount_ttl: 100 * 3600 },
    });
    expect(ids(before)).toContain('token-ttl:mount:approle/:max_lease_ttl');
    expect(ids(before)).toContain('token-ttl:mount:approle/:default_lease_ttl');

    await root.write('sys/auth/approle/tune', { default_lease_ttl: '1h', max_lease_ttl: '50h' });
    const after = await report(['--only', 'token-ttl', '--config', config]);
    expect(ids(after).filter((id) => id.startsWith('token-ttl:mount:approle/'))).toEqual([]);
    expect(ids(after)).toContain('token-ttl:mount:token/:max_lease_ttl');
    // With the default maximum (768h) the server's own defaults are not findings.
    expect(ids(await report(['--only', 'token-ttl'])).filter((id) => id.includes(':system:'))).toEqual([]);
  });

  it('finds the single audit device, the unused userpass mount and the AppRole role without limits', async () => {
    const r = await report(['--only', 'audit-devices,auth-unused']);
    expect(r.findings.find((f) => f.id === 'audit-devices:single')).toMatchObject({ severity: 'medium' });
    // The device is declared in the configuration, and the store has fresh events.
    expect(ids(r).filter((id) => id.startsWith('audit-devices:undeclared'))).toEqual([]);
    expect(ids(r)).not.toContain('audit-devices:never-ingested');
    expect(ids(r)).not.toContain('audit-devices:ingest-stale');

    expect(ids(r)).toContain('auth-unused:mount:userpass/');
    expect(ids(r)).not.toContain('auth-unused:mount:approle/');
    const loose = r.findings.find((f) => f.id === 'auth-unused:approle-limits:approle/loose');
    expect(loose).toMatchObject({ severity: 'medium' });
    expect(loose!.evidence['missing']).toEqual([
      'secret_id_ttl',
      'secret_id_num_uses',
      'token_ttl',
      'bound_cidrs',
    ]);
    expect(ids(r)).not.toContain('auth-unused:approle-limits:approle/tight');

    // Fix by hand: limits on the role, the unused mount disabled.
    await root.write('auth/approle/role/loose', {
      secret_id_ttl: '1h',
      secret_id_num_uses: 1,
      token_ttl: '15m',
      token_bound_cidrs: '127.0.0.1/32',
    });
    await root.disableAuth('userpass');
    const fixed = await report(['--only', 'auth-unused']);
    expect(ids(fixed)).not.toContain('auth-unused:mount:userpass/');
    expect(ids(fixed)).not.toContain('auth-unused:approle-limits:approle/loose');
  });

  it('finds 1-of-1 Shamir and the plain-HTTP listener on every interface', async () => {
    const r = await report(['--only', 'seal,tls']);
    expect(r.findings.find((f) => f.id === 'seal:single-share')).toMatchObject({
      severity: 'high',
      evidence: expect.objectContaining({ shares: 1, threshold: 1 }),
    });
    const tls = r.findings.find((f) => f.id.startsWith('tls:disabled:0.0.0.0:'));
    expect(tls).toMatchObject({ severity: 'high', area: 'tls' });
    expect(r.score.by_area.seal).toBeLessThan(100);
    expect(Object.keys(r.score.by_area).sort()).toEqual(['seal', 'tls']);
  });

  it('finds a keyring term older than posture.max_keyring_age, and not after bao operator rotate', async () => {
    const config = join(scratch, 'keyring.yaml');
    writeFileSync(config, 'posture:\n  max_keyring_age: 8s\n');
    const installed = Date.parse((await root.keyStatus()).install_time);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, installed + 9_000 - Date.now())));
    const old = await report(['--only', 'seal', '--config', config]);
    const term = (await root.keyStatus()).term;
    expect(old.findings.find((f) => f.id === 'seal:keyring-age')).toMatchObject({
      severity: 'medium',
      evidence: expect.objectContaining({ term }),
      fix: 'bao operator rotate',
    });
    await root.rotateKeyring();
    expect((await root.keyStatus()).term).toBe(term + 1);
    const rotated = await report(['--only', 'seal', '--config', config]);
    expect(ids(rotated)).not.toContain('seal:keyring-age');
  });

  it('says what a restricted token could not read, with the capability and path, and runs the rest', async () => {
    await root.writePolicy(
      'posture-partial',
      'path "sys/auth" { capabilities = ["read"] }\npath "sys/auth/*" { capabilities = ["read"] }\npath "sys/audit" { capabilities = ["read", "sudo"] }',
    );
    const limited = await root.tokenCreate({ policies: ['posture-partial'], ttl: '10m' });
    const r = await report([], limited.client_token);
    const refused = r.findings.find((f) => f.id === 'root-tokens:could-not-read:auth/token/accessors');
    expect(refused).toMatchObject({
      severity: 'medium',
      evidence: expect.objectContaining({ capability: 'list, sudo', path: 'auth/token/accessors' }),
    });
    expect(refused!.title).toContain('needs list, sudo on auth/token/accessors');
    expect(ids(r)).toContain('tls:could-not-read:sys/config/state/sanitized');
    expect(ids(r)).toContain('seal:could-not-read:sys/key-status');
    // The rest ran: the audit devices were read, the seal status too.
    expect(ids(r)).toContain('audit-devices:single');
    expect(ids(r)).toContain('seal:single-share');
    expect(r.checks.every((c) => c.status !== 'could-not-check')).toBe(true);
  });

  it('exits 3 at --fail-on and writes SARIF, HTML and Markdown to files', async () => {
    const high = await posture(['--fail-on', 'high']);
    expect(high.code, high.stderr).toBe(3);
    expect(high.stdout).toContain('SEAL');
    const critical = await posture(['--fail-on', 'critical', '--only', 'seal']);
    expect(critical.code, critical.stderr).toBe(0);

    const sarifFile = join(scratch, 'posture.sarif');
    const sarif = await posture(['--format', 'sarif', '--output', sarifFile]);
    expect(sarif.code, sarif.stderr).toBe(0);
    const log = JSON.parse(readFileSync(sarifFile, 'utf8')) as {
      version: string;
      runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string; level: string }[] }[];
    };
    expect(log.version).toBe('2.1.0');
    const validate = sarifValidator();
    expect(validate(log), JSON.stringify(validate.errors)).toBe(true);
    // One SARIF rule per registered check, in registry order.
    expect(log.runs[0]!.tool.driver.rules.map((r) => r.id)).toEqual([...POSTURE_CHECK_IDS]);
    expect(POSTURE_CHECK_IDS).toEqual(expect.arrayContaining(['root-tokens', 'seal', 'tls', 'policy-globs']));
    expect(log.runs[0]!.results).toContainEqual(expect.objectContaining({ ruleId: 'seal', level: 'error' }));

    const htmlFile = join(scratch, 'posture.html');
    expect((await posture(['--format', 'html', '--output', htmlFile])).code).toBe(0);
    const html = readFileSync(htmlFile, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)[^"<\s]*\.(js|css)/);
    const md = await posture(['--format', 'md']);
    expect(md.stdout).toContain('# sealwatch posture:');
  });

  it('baseline then diff shows a new root token as new, and --fail-on-new exits 3', async () => {
    const base = await posture(['baseline', '--json']);
    expect(base.code, base.stderr).toBe(0);
    const clean = await posture(['diff', '--json', '--fail-on-new']);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.json<PostureDiff>().new).toEqual([]);

    const fresh = await root.tokenCreate({ policies: ['root'] });
    const diff = await posture(['diff', '--json', '--fail-on-new']);
    expect(diff.code, diff.stderr).toBe(3);
    const parsed = diff.json<PostureDiff>();
    expect(parsed.new.map((f) => f.id)).toContain(`root-tokens:accessor:${fresh.accessor}`);
    expect(parsed.fixed).toEqual([]);

    await root.tokenRevokeAccessor(fresh.accessor);
    const text = await posture(['diff']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/0 new/);
  });
});

describe('posture seal check against a Shamir 5-of-3 OpenBao', () => {
  let server: PlainBaoServer;
  let scratch: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-test-'));
    server = await startPlainBaoServer({ shares: 5, threshold: 3 });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('raises no share or threshold finding, and no TLS finding on loopback', async () => {
    const result = await runCli(['posture', '--json', '--only', 'seal,tls', '--fail-on', 'low'], {
      env: { BAO_ADDR: server.address, BAO_TOKEN: server.rootToken, SEALWATCH_STORE: join(scratch, 's.db') },
      cwd: scratch,
    });
    expect(result.code, result.stderr).toBe(0);
    const r = result.json<PostureReport>();
    expect(r.findings.map((f) => f.id)).toEqual(['seal:shamir']);
    expect(r.findings[0]!.evidence).toMatchObject({ shares: 5, threshold: 3 });
    expect(r.score.by_area).toEqual({ seal: 100, tls: 100 });
  });

  it('diff without a baseline fails and says to take one', async () => {
    const result = await runCli(['posture', 'diff', '--only', 'seal'], {
      env: { BAO_ADDR: server.address, BAO_TOKEN: server.rootToken, SEALWATCH_STORE: join(scratch, 's.db') },
      cwd: scratch,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('run sealwatch posture baseline first');
  });

  it('reports a check that throws as could-not-check, and runs the rest', async () => {
    const store = await Store.open(join(scratch, 'service.db'));
    try {
      const broken: PostureCheck = {
        id: 'broken',
        area: 'engines',
        title: 'a check with a defect',
        run: () => Promise.reject(new TypeError('cannot read properties of undefined')),
      };
      const posture = createPosture({
        vault: server.client(),
        store,
        config: loadConfig({}, {}, scratch),
        logger: silentLogger(),
        checks: [broken, sealCheck],
      });
      const r = await posture.run({ since: new Date(Date.now() - 86_400_000) });
      expect(r.checks).toEqual([
        {
          id: 'broken',
          area: 'engines',
          title: 'a check with a defect',
          status: 'could-not-check',
          error: 'cannot read properties of undefined',
        },
        { id: 'seal', area: 'seal', title: sealCheck.title, status: 'findings' },
      ]);
      expect(r.findings.map((f) => f.id)).toEqual(['broken:could-not-check', 'seal:shamir']);
      expect(r.score.by_area.engines).toBe(85);
    } finally {
      await store.close();
    }
  });
});

describe('posture audit check against an OpenBao whose only audit device is a socket', () => {
  let server: PlainBaoServer;
  let receiver: Server;
  let scratch: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-test-'));
    // A receiver that accepts and drops the lines: OpenBao blocks requests a socket device cannot deliver.
    receiver = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const bound = receiver.address();
    if (!bound || typeof bound === 'string') throw new Error('the audit receiver has no TCP address');
    server = await startPlainBaoServer({ noFileAudit: true, auditSocket: `127.0.0.1:${bound.port}` });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('flags the lone socket device as high', async () => {
    const result = await runCli(['posture', '--json', '--only', 'audit-devices', '--fail-on', 'high'], {
      env: { BAO_ADDR: server.address, BAO_TOKEN: server.rootToken, SEALWATCH_STORE: join(scratch, 's.db') },
      cwd: scratch,
    });
    expect(result.code, result.stderr).toBe(3);
    const r = result.json<PostureReport>();
    expect(r.findings.find((f) => f.id === 'audit-devices:lone-socket')).toMatchObject({
      severity: 'high',
      evidence: { devices: [{ path: 'stream/', type: 'socket' }] },
    });
    expect(r.findings.map((f) => f.id)).not.toContain('audit-devices:single');
  });
});
