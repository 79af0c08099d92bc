import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostureFinding } from '../../src/posture/check.js';
import type { PostureReport } from '../../src/posture/posture.service.js';
import { findBaoBinary } from '../../src/vault/bao-binary.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startPlainBaoServer, type PlainBaoServer } from '../harness/bao-server.js';
import { runCli } from '../harness/cli.js';

/**
 * The usage and role checks of `sealwatch posture` against a real OpenBao with a file audit device
 * whose log is ingested into the store: secret IDs issued with and without -wrap-ttl, a policy and
 * engines nobody uses, an engine no policy grants, token roles that hand out any policy or root, and
 * a userpass user with long-lived tokens. Each finding is seen, fixed by hand as its `fix` says,
 * and gone.
 */
describe('posture usage and role checks against a real OpenBao and its ingested audit log', () => {
  let server: PlainBaoServer;
  let root: VaultClient;
  let scratch: string;
  let config: string;
  const env = (token: string) => ({
    BAO_ADDR: server.address,
    BAO_TOKEN: token,
    SEALWATCH_STORE: join(scratch, 'store.db'),
  });
  const bao = (args: string[], token = server.rootToken) =>
    execFileSync(findBaoBinary(), args, {
      env: { ...process.env, ...env(token), BAO_FORMAT: 'json' },
      encoding: 'utf8',
      timeout: 60_000,
    });
  const ingest = async () => {
    const result = await runCli(['audit', 'ingest', server.auditFile, '--config', config], {
      env: env(server.rootToken),
      cwd: scratch,
      timeoutMs: 120_000,
    });
    expect(result.code, result.stderr).toBe(0);
  };
  const report = async (only: string, extra: string[] = []) => {
    const result = await runCli(
      ['posture', '--format', 'json', '--only', only, '--config', config, ...extra],
      {
        env: env(server.rootToken),
        cwd: scratch,
        timeoutMs: 120_000,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    return result.json<PostureReport>();
  };
  const byId = (r: PostureReport) => new Map(r.findings.map((f) => [f.id, f]));
  const ids = (r: { findings: PostureFinding[] }) => r.findings.map((f) => f.id);

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-checks-'));
    config = join(scratch, 'sealwatch.yaml');
    writeFileSync(config, 'tenancy:\n  paths:\n    - kv-used/{tenant}/db\n');
    server = await startPlainBaoServer({ shares: 1, threshold: 1 });
    root = server.client();

    // Wrapping: role ci gets one secret ID unwrapped and one wrapped; role wrapped-only only wrapped.
    await root.enableAuth('approle', { type: 'approle' });
    for (const role of ['ci', 'wrapped-only'])
      await root.write(`auth/approle/role/${role}`, { token_policies: 'default', secret_id_ttl: '1h' });
    bao(['write', '-f', 'auth/approle/role/ci/secret-id']);
    bao(['write', '-wrap-ttl=60s', '-f', 'auth/approle/role/ci/secret-id']);
    bao(['write', '-wrap-ttl=60s', '-f', 'auth/approle/role/wrapped-only/secret-id']);

    // Engines and policies: kv-used is granted and read; kv-idle granted (by idle-pol) and never
    // touched; kv-orphan granted by nobody.
    for (const mount of ['kv-used', 'kv-idle', 'kv-orphan'])
      await root.enableMount(mount, { type: 'kv', options: { version: '1' } });
    await root.write('sys/policies/acl/used-pol', { policy: 'path "kv-used/*" { capabilities = ["read"] }' });
    await root.write('sys/policies/acl/idle-pol', {
      policy:
        'path "kv-idle/*" { capabilities = ["read", "list"] }\npath "kv-orphan/x" { capabilities = ["deny"] }',
    });
    await root.write('kv-used/acme/db', { password: 'p1' });
    const reader = await root.tokenCreate({ policies: ['used-pol'], ttl: '1h' });
    bao(['read', 'kv-used/acme/db'], reader.client_token);
    bao(['read', '-wrap-ttl=60s', 'kv-used/acme/db'], reader.client_token);

    // Token roles and userpass users.
    await root.write('auth/token/roles/any', { allowed_policies_glob: '*', token_explicit_max_ttl: '1h' });
    await root.write('auth/token/roles/rootish', { allowed_policies: 'root', token_explicit_max_ttl: '1h' });
    await root.write('auth/token/roles/forever', { allowed_policies: 'used-pol', token_period: '24h' });
    await root.write('auth/token/roles/tight', {
      allowed_policies: 'used-pol',
      token_explicit_max_ttl: '1h',
    });
    await root.enableAuth('userpass', { type: 'userpass' });
    await root.write('auth/userpass/users/alice', { password: 'x', token_max_ttl: '2000h' });
    await root.write('auth/userpass/users/bob', { password: 'x', token_ttl: '1h', token_max_ttl: '8h' });
    await ingest();
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('finds the unwrapped secret ID per role and the share of sensitive reads wrapped; gone once the window starts after it', async () => {
    const r = await report('wrapping');
    const found = byId(r);
    expect(found.get('wrapping:secret-id:approle/ci')).toMatchObject({
      severity: 'medium',
      area: 'wrapping',
      evidence: expect.objectContaining({ issued: 2, wrapped: 1, unwrapped: 1, wrapped_fraction: 0.5 }),
    });
    expect(found.get('wrapping:secret-id:approle/ci')!.fix).toContain(
      'bao write -wrap-ttl=60s -f auth/approle/role/ci/secret-id',
    );
    expect(found.has('wrapping:secret-id:approle/wrapped-only')).toBe(false);
    expect(found.get('wrapping:sensitive-reads')).toMatchObject({
      severity: 'info',
      evidence: expect.objectContaining({ reads: 2, wrapped: 1, unwrapped: 1 }),
    });
    // The wrapped response's audit entry holds only HMACs: no secret ID reached the report.
    expect(JSON.stringify(r)).not.toMatch(/"secret_id"\s*:\s*"[0-9a-f-]{36}"/);

    // The fix: issue wrapped from now on. A window that starts after the unwrapped issuance is clean.
    const cutoff = new Date();
    await new Promise((resolve) => setTimeout(resolve, 50));
    bao(['write', '-wrap-ttl=60s', '-f', 'auth/approle/role/ci/secret-id']);
    await ingest();
    const after = await report('wrapping', ['--since', cutoff.toISOString()]);
    expect(ids(after).filter((id) => id.startsWith('wrapping:secret-id:'))).toEqual([]);
    expect(after.checks[0]).toMatchObject({ id: 'wrapping', status: 'ok' });
  });

  it('finds token roles that hand out any policy or root, or periodic tokens, and not once rewritten', async () => {
    // The danger is real: a token that may only use role "any" mints a token with a policy it lacks.
    await root.write('sys/policies/acl/role-user', {
      policy: 'path "auth/token/create/any" { capabilities = ["update"] }',
    });
    const limited = await root.tokenCreate({ policies: ['role-user'], ttl: '1h' });
    const minted = JSON.parse(
      bao(['token', 'create', '-role=any', '-policy=idle-pol'], limited.client_token),
    ) as {
      auth: { policies: string[] };
    };
    expect(minted.auth.policies).toContain('idle-pol');

    const found = byId(await report('token-roles'));
    expect(found.get('token-roles:arbitrary-policies:any')).toMatchObject({ severity: 'high' });
    expect(found.get('token-roles:root:rootish')).toMatchObject({ severity: 'medium' });
    expect(found.get('token-roles:long-ttl:forever')).toMatchObject({ severity: 'medium' });
    expect([...found.keys()].filter((id) => id.endsWith(':tight'))).toEqual([]);

    await root.write('auth/token/roles/any', { allowed_policies_glob: '', allowed_policies: 'used-pol' });
    await root.write('auth/token/roles/rootish', { allowed_policies: 'used-pol' });
    await root.write('auth/token/roles/forever', { token_period: 0, token_explicit_max_ttl: '24h' });
    const after = await report('token-roles');
    expect(ids(after)).toEqual([]);
    expect(after.checks[0]).toMatchObject({ status: 'ok' });
  });

  it('finds the userpass user whose tokens live long, and not once limited', async () => {
    const found = byId(await report('userpass-ttl'));
    expect(found.get('userpass-ttl:userpass/alice')).toMatchObject({
      severity: 'medium',
      evidence: expect.objectContaining({ max_lifetime: 768 * 3600, token_max_ttl: 2000 * 3600 }),
    });
    expect(found.has('userpass-ttl:userpass/bob')).toBe(false);
    await root.write('auth/userpass/users/alice', { token_max_ttl: '8h' });
    expect(ids(await report('userpass-ttl'))).toEqual([]);
  });

  it('finds the unused policy and engines and the engine no policy grants; gone once used, removed or disabled', async () => {
    const r = await report('policy-unused,engines-ungranted,engines-unused');
    const found = byId(r);
    expect(found.get('policy-unused:idle-pol')).toMatchObject({ severity: 'low', area: 'policies' });
    expect(found.has('policy-unused:used-pol')).toBe(false);
    expect(found.has('policy-unused:default')).toBe(false);
    expect(found.get('engines-ungranted:kv-orphan/')).toMatchObject({ severity: 'low', area: 'engines' });
    expect(found.has('engines-ungranted:kv-idle/')).toBe(false);
    expect(found.has('engines-ungranted:kv-used/')).toBe(false);
    expect(found.get('engines-unused:kv-idle/')).toMatchObject({ severity: 'low' });
    expect(found.has('engines-unused:kv-orphan/')).toBe(true);
    expect(found.has('engines-unused:kv-used/')).toBe(false);

    // Fixes by hand: idle-pol used once, kv-orphan disabled as its fix says.
    await root.write('kv-idle/left', { value: 'x' });
    const idle = await root.tokenCreate({ policies: ['idle-pol'], ttl: '1h' });
    bao(['list', 'kv-idle/'], idle.client_token);
    await root.disableMount('kv-orphan');
    await ingest();
    const after = await report('policy-unused,engines-ungranted,engines-unused');
    expect(ids(after).filter((id) => /idle|orphan/.test(id))).toEqual([]);
  });

  it('says it could not tell when the window holds no audit event, instead of calling everything unused', async () => {
    const future = await report('policy-unused,engines-unused,wrapping', [
      '--since',
      new Date(Date.now() + 3_600_000).toISOString(),
    ]);
    expect(ids(future).sort()).toEqual([
      'engines-unused:no-audit-events',
      'policy-unused:no-audit-events',
      'wrapping:no-audit-events',
    ]);
  });
});
