import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MountExportFile } from '../../src/posture/fixes/auth-disable.fix.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import { createIncidents } from '../../src/playbook/incident.service.js';
import { approveAll } from '../../src/playbook/playbook.engine.js';
import type { PostureCheck } from '../../src/posture/check.js';
import {
  createPostureFix,
  POSTURE_FIX_INCIDENT_TYPE,
  postureFixSteps,
} from '../../src/posture/fix.service.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startPlainBaoServer, type PlainBaoServer } from '../harness/bao-server.js';
import { postureCli } from '../harness/posture-cli.js';
import { ROOT, runCli } from '../harness/cli.js';

const ACME_POLICY = `# acme's application, which can also read globex's SMTP credentials
path "secret/data/tenants/acme/*" { capabilities = ["read", "update"] }
path "secret/data/tenants/globex/smtp" { capabilities = ["read"] }
path "secret/data/tenants/initech/*" { capabilities = ["read"] }
`;

/**
 * `sealwatch posture fix` through the built CLI against a real OpenBao built wrong on purpose: each
 * automated fix is applied with --yes, the change is read back from the server, and the finding is
 * gone from a fresh posture run. --dry-run changes nothing; an unknown id, the caller's own token and
 * a run without --yes and without a terminal are refused.
 */
describe('posture fix against a real OpenBao', () => {
  let server: PlainBaoServer;
  let root: VaultClient;
  let scratch: string;
  let configFile: string;
  const { env, cli, fix, findingIds } = postureCli(() => ({ server, scratch, configFile }));

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-fix-test-'));
    configFile = join(scratch, 'sealwatch.yaml');
    writeFileSync(
      configFile,
      [
        'tenancy:',
        '  paths: ["secret/tenants/{tenant}/smtp"]',
        'posture:',
        '  tenant_role_template: "{tenant}-app"',
        '  max_mount_ttl: 100h',
        '  max_token_ttl: 12h',
        '',
      ].join('\n'),
    );
    server = await startPlainBaoServer({ shares: 1, threshold: 1 });
    root = server.client();
    await root.enableMount('secret', { type: 'kv', options: { version: '2' } });
    await root.enableAuth('approle', { type: 'approle' });
    await root.enableAuth('userpass', { type: 'userpass' });
    await root.write('auth/userpass/users/olduser', {
      password: 'never-in-the-export-7731',
      token_policies: 'default',
    });
    // One real AppRole login, so approle is in use and userpass is not.
    await root.write('auth/approle/role/login-role', { token_policies: 'default' });
    const roleId = (await root.read<{ role_id: string }>('auth/approle/role/login-role/role-id')).data
      .role_id;
    const secretId = (await root.write<{ secret_id: string }>('auth/approle/role/login-role/secret-id'))!.data
      .secret_id;
    await root.write('auth/approle/login', { role_id: roleId, secret_id: secretId }, { token: null });
    const ingest = await runCli(['audit', 'ingest', server.auditFile], {
      env: env(server.rootToken),
      cwd: scratch,
    });
    expect(ingest.code, ingest.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('revokes a root token left alive by its accessor; --dry-run before changes nothing', async () => {
    const leftover = await root.tokenCreate({ policies: ['root'], display_name: 'leftover' });
    const id = `root-tokens:accessor:${leftover.accessor}`;

    const dry = await fix([id, '--dry-run']);
    expect(dry.result.code, dry.result.stderr).toBe(0);
    expect(dry.json!.fixes).toEqual([
      expect.objectContaining({
        finding: id,
        status: 'planned',
        actions: [expect.objectContaining({ destructive: true })],
      }),
    ]);
    expect((await root.tokenLookupAccessor(leftover.accessor)).accessor).toBe(leftover.accessor);

    const applied = await fix([id, '--yes']);
    expect(applied.result.code, applied.result.stderr).toBe(0);
    expect(applied.json!.fixes[0]).toMatchObject({
      status: 'fixed',
      evidence: { accessor: leftover.accessor, revoked: true },
    });
    expect(JSON.stringify(applied.json)).not.toContain(leftover.client_token);
    await expect(root.tokenLookup(leftover.client_token)).rejects.toThrow();
    await expect(root.tokenLookupAccessor(leftover.accessor)).rejects.toThrow(/invalid accessor/);
    expect(await findingIds('root-tokens')).not.toContain(id);
  });

  it("refuses to revoke the caller's own token, which stays alive", async () => {
    const mine = await root.tokenCreate({ policies: ['root'], display_name: 'operator' });
    const id = `root-tokens:accessor:${mine.accessor}`;
    const { result, json } = await fix([id, '--yes'], mine.client_token);
    expect(result.code).toBe(1);
    expect(json!.fixes[0]).toMatchObject({
      status: 'refused',
      reason: expect.stringContaining('the token sealwatch runs with'),
    });
    expect((await root.tokenLookupAccessor(mine.accessor)).accessor).toBe(mine.accessor);
    await root.tokenRevokeAccessor(mine.accessor);
  });

  it("tunes an auth mount's lease TTLs down to posture.max_mount_ttl", async () => {
    const ids = ['token-ttl:mount:approle/:max_lease_ttl', 'token-ttl:mount:approle/:default_lease_ttl'];
    expect(await findingIds('token-ttl')).toEqual(expect.arrayContaining(ids));
    const { result, json } = await fix([...ids, '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(json!.fixes.map((f) => f.status)).toEqual(['fixed', 'fixed']);
    const tune = (
      await root.read<{ default_lease_ttl: number; max_lease_ttl: number }>('sys/auth/approle/tune')
    ).data;
    expect(tune.max_lease_ttl).toBe(100 * 3600);
    expect(tune.default_lease_ttl).toBe(100 * 3600);
    const after = await findingIds('token-ttl');
    for (const id of ids) expect(after).not.toContain(id);
  });

  it("sets an AppRole role's TTLs, and refuses a role whose missing limits only the operator knows", async () => {
    await root.write('auth/approle/role/bounded', {
      token_policies: 'default',
      secret_id_num_uses: 1,
      secret_id_bound_cidrs: '10.0.0.0/8',
    });
    await root.write('auth/approle/role/loose', { token_policies: 'default' });
    const bounded = 'auth-unused:approle-limits:approle/bounded';
    const loose = 'auth-unused:approle-limits:approle/loose';
    const { result, json } = await fix([bounded, loose, '--yes']);
    expect(result.code).toBe(1);
    expect(json!.fixes.find((f) => f.finding === bounded)).toMatchObject({ status: 'fixed' });
    expect(json!.fixes.find((f) => f.finding === loose)).toMatchObject({
      status: 'refused',
      reason: expect.stringContaining('secret_id_num_uses and bound_cidrs'),
    });
    const role = (await root.read<Record<string, unknown>>('auth/approle/role/bounded')).data;
    expect(role).toMatchObject({
      secret_id_ttl: 12 * 3600,
      token_ttl: 12 * 3600,
      token_max_ttl: 12 * 3600,
      secret_id_num_uses: 1,
      secret_id_bound_cidrs: ['10.0.0.0/8'],
    });
    const after = await findingIds('auth-unused');
    expect(after).not.toContain(bounded);
    expect(after).toContain(loose);
    expect((await root.read<Record<string, unknown>>('auth/approle/role/loose')).data['token_ttl']).toBe(0);
  });

  it('adds deny rules for the other tenants to a cross-tenant policy, as sys/capabilities confirms', async () => {
    await root.writePolicy('acme-app', ACME_POLICY);
    await root.write('auth/approle/role/acme-app', { token_policies: 'acme-app' });
    const id = 'policy-cross-tenant:acme-app:approle/acme-app';
    expect(await findingIds('policy-cross-tenant')).toContain(id);
    const token = (await root.tokenCreate({ policies: ['acme-app'], ttl: '1h' })).client_token;
    const capabilities = async () =>
      (await root.write<Record<string, string[]>>('sys/capabilities', {
        token,
        paths: [
          'secret/data/tenants/acme/smtp',
          'secret/data/tenants/globex/smtp',
          'secret/data/tenants/initech/smtp',
        ],
      }))!.data;
    expect(await capabilities()).toMatchObject({
      'secret/data/tenants/globex/smtp': ['read'],
      'secret/data/tenants/initech/smtp': ['read'],
    });

    const dry = await fix([id, '--dry-run']);
    expect(dry.result.code, dry.result.stderr).toBe(0);
    expect(dry.json!.fixes[0]!.actions![0]!.details).toMatchObject({ denied_tenants: ['globex', 'initech'] });
    expect(await root.readPolicy('acme-app')).toBe(ACME_POLICY);

    const { result, json } = await fix([id, '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(json!.fixes[0]).toMatchObject({
      status: 'fixed',
      evidence: { policy: 'acme-app', written: true },
    });
    const caps = await capabilities();
    expect(caps['secret/data/tenants/globex/smtp']).toEqual(['deny']);
    expect(caps['secret/data/tenants/initech/smtp']).toEqual(['deny']);
    expect(caps['secret/data/tenants/acme/smtp']!.sort()).toEqual(['read', 'update']);
    const text = (await root.readPolicy('acme-app'))!;
    expect(text.startsWith(ACME_POLICY)).toBe(true);
    expect(await findingIds('policy-cross-tenant')).not.toContain(id);

    // The old text is in the journal, to restore it.
    const shown = await cli(['incident', 'show', json!.incident_id!, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const step = shown.json<{ steps: { step_id: string; outputs: Record<string, unknown> }[] }>().steps[0]!;
    expect(step.outputs).toEqual({ policy: 'acme-app', previous_text: ACME_POLICY });
  });

  it('refuses a deny on a policy that a role of another tenant carries too', async () => {
    await root.writePolicy('shared-app', 'path "secret/data/tenants/*" { capabilities = ["read"] }\n');
    await root.write('auth/approle/role/hooli-app', { token_policies: 'shared-app' });
    await root.write('auth/approle/role/umbrella-app', { token_policies: 'shared-app' });
    await root.writePolicy(
      'mention',
      'path "secret/data/tenants/hooli/x" { capabilities = ["deny"] }\npath "secret/data/tenants/umbrella/x" { capabilities = ["deny"] }\n',
    );
    const id = 'policy-cross-tenant:shared-app:approle/hooli-app';
    expect(await findingIds('policy-cross-tenant')).toContain(id);
    const { result, json } = await fix([id, '--yes']);
    expect(result.code).toBe(1);
    expect(json!.fixes[0]).toMatchObject({
      status: 'refused',
      reason: expect.stringContaining('approle/umbrella-app (tenant umbrella)'),
    });
    expect(await root.readPolicy('shared-app')).toBe(
      'path "secret/data/tenants/*" { capabilities = ["read"] }\n',
    );
  });

  it('exports an unused auth method to a file, then disables it', async () => {
    const id = 'auth-unused:mount:userpass/';
    expect(await findingIds('auth-unused')).toContain(id);
    const exportDir = join(scratch, 'exports');
    const { result, json } = await fix([id, '--yes', '--export-dir', exportDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(json!.fixes[0]).toMatchObject({ status: 'fixed', evidence: { disabled: true, users: 1 } });
    expect(Object.keys(await root.listAuthMounts())).not.toContain('userpass/');
    const file = join(exportDir, 'auth-userpass.json');
    const text = readFileSync(file, 'utf8');
    const exported = JSON.parse(text) as MountExportFile;
    expect(exported).toMatchObject({ format: 'sealwatch-mount-export/1', finding: id, kind: 'auth' });
    expect(exported.mount).toMatchObject({ path: 'userpass/', type: 'userpass' });
    expect(exported.mount.users['olduser']).toMatchObject({ token_policies: ['default'] });
    expect(text).not.toContain('never-in-the-export-7731');
    expect(await findingIds('auth-unused')).not.toContain(id);
    // Run again: the finding is gone, so the id is unknown now.
    expect((await fix([id, '--yes'])).result.code).toBe(2);
    expect(existsSync(file)).toBe(true);
  });

  it('says which findings it cannot fix, and refuses bad input in one line', async () => {
    const manual = await findingIds('audit-devices');
    expect(manual).toContain('audit-devices:single');
    const { result, json } = await fix(['audit-devices:single', '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(json!.fixes[0]).toMatchObject({ status: 'manual', manual_fix: expect.any(String) });

    const unknown = await cli(['posture', 'fix', 'root-tokens:accessor:nosuchaccessor', '--yes']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('unknown finding id root-tokens:accessor:nosuchaccessor');

    const bare = await cli(['posture', 'fix', 'root-tokens', '--yes']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('not a finding id');

    const leftover = await root.tokenCreate({ policies: ['root'] });
    const noTty = await cli(['posture', 'fix', `root-tokens:accessor:${leftover.accessor}`]);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('pass --yes');
    expect((await root.tokenLookupAccessor(leftover.accessor)).accessor).toBe(leftover.accessor);
    await root.tokenRevokeAccessor(leftover.accessor);
  });
  it('resumes a fix cut off after its write: the policy gets one deny block and the journal the original text', async () => {
    const original =
      'path "secret/data/tenants/wayne/*" { capabilities = ["read"] }\npath "secret/data/tenants/stark/*" { capabilities = ["read"] }\n';
    await root.writePolicy('wayne-app', original);
    await root.write('auth/approle/role/wayne-app', { token_policies: 'wayne-app' });
    const id = 'policy-cross-tenant:wayne-app:approle/wayne-app';
    const store = await Store.open(join(scratch, 'store.db'));
    let incidentId: string;
    try {
      const deps = { vault: root, store, config: loadConfig({ config: configFile }), logger: silentLogger() };
      const since = new Date(Date.now() - 86_400_000);
      const { decisions } = await createPostureFix(deps).resolve([id], {
        since,
        exportDir: join(scratch, 'x'),
      });
      expect(decisions.map((d) => d.status)).toEqual(['planned']);
      const options = {
        since: since.toISOString(),
        export_dir: join(scratch, 'x'),
        findings: decisions.map((d) => d.finding),
      };
      const steps = postureFixSteps(deps, options);
      const incidents = createIncidents({ store, logger: silentLogger(), playbooks: {} });
      incidentId = (await incidents.declare({ type: POSTURE_FIX_INCIDENT_TYPE, steps, options })).id;
      // The process wrote the policy and died before the journal recorded the step's end.
      await steps[0]!.run({
        incidentId,
        logger: silentLogger(),
        signal: new AbortController().signal,
        outputs: {},
        options,
        progress: () => undefined,
      });
      const at = new Date().toISOString();
      await store.incidents.updateStep(incidentId, steps[0]!.id, {
        status: 'running',
        attempts: 1,
        started_at: at,
        attempt_started_at: at,
      });
      await store.incidents.update(incidentId, { state: 'running' });
    } finally {
      await store.close();
    }
    expect(await root.readPolicy('wayne-app')).not.toBe(original);

    const resumed = await cli(['incident', 'resume', incidentId, '--yes', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const text = (await root.readPolicy('wayne-app'))!;
    expect(text.startsWith(original)).toBe(true);
    expect(text.split('# sealwatch posture fix').length - 1).toBe(1);
    const shown = await cli(['incident', 'show', incidentId, '--json']);
    const step = shown.json<{ steps: { status: string; outputs: Record<string, unknown> }[] }>().steps[0]!;
    expect(step).toMatchObject({ status: 'done', outputs: { policy: 'wayne-app', previous_text: original } });
    expect(await findingIds('policy-cross-tenant')).not.toContain(id);
  });
  it('fails the step, naming what remains, when the re-run check still reports the finding', async () => {
    const leftover = await root.tokenCreate({ policies: ['root'], display_name: 'stubborn' });
    const id = `root-tokens:accessor:${leftover.accessor}`;
    const store = await Store.open(join(scratch, 'store.db'));
    try {
      const deps = { vault: root, store, config: loadConfig({ config: configFile }), logger: silentLogger() };
      const { decisions } = await createPostureFix(deps).resolve([id], {
        since: new Date(Date.now() - 86_400_000),
        exportDir: join(scratch, 'x'),
      });
      // A stand-in for a server where the fix does not hold: the check reports the finding again.
      const stubborn: PostureCheck = {
        id: 'root-tokens',
        area: 'tokens',
        title: 'stand-in',
        run: async () => [decisions[0]!.finding],
      };
      const options = {
        since: new Date().toISOString(),
        export_dir: join(scratch, 'x'),
        findings: [decisions[0]!.finding],
      };
      const steps = postureFixSteps({ ...deps, checks: [stubborn] }, options);
      const incidents = createIncidents({ store, logger: silentLogger(), playbooks: {} });
      const incident = await incidents.declare({ type: POSTURE_FIX_INCIDENT_TYPE, steps, options });
      const result = await incidents.run(incident.id, steps, { approve: approveAll() });
      expect(result.state).toBe('failed');
      const [row] = (await incidents.show(incident.id)).steps;
      expect(row).toMatchObject({
        status: 'failed',
        evidence: { accessor: leftover.accessor, revoked: true },
      });
      expect(row!.error).toContain(`root-tokens still reports ${id}: a root token is alive`);
    } finally {
      await store.close();
    }
  });
  it('asks on a terminal, showing the plan: a no changes nothing, a yes revokes', async () => {
    // util-linux `script` gives the CLI a pseudo-terminal, as an operator's shell would.
    const onTerminal = (args: string[], answer: string) =>
      new Promise<{ code: number; output: string }>((resolve, reject) => {
        const command = ['node', join(ROOT, 'dist', 'cli', 'main.js'), ...args, '--config', configFile]
          .map((a) => `'${a}'`)
          .join(' ');
        const clean = Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !/^(BAO|VAULT|SEALWATCH)_/.test(k)),
        );
        const child = spawn('script', ['-qec', command, '/dev/null'], {
          cwd: scratch,
          env: { ...clean, ...env(server.rootToken), HOME: join(ROOT, '.sealwatch', 'test-home') },
        });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, output });
        });
        child.stdin.end(answer);
      });
    const leftover = await root.tokenCreate({ policies: ['root'], display_name: 'asked' });
    const id = `root-tokens:accessor:${leftover.accessor}`;
    const declined = await onTerminal(['posture', 'fix', id], 'n\n');
    expect(declined.output).toContain(`! revoke the root token with accessor ${leftover.accessor}`);
    expect(declined.output).toMatch(/approve step fix:root-tokens:accessor:\S+\? \[y\/N\]/);
    expect(declined.output).toContain(`[not-run] ${id}`);
    expect(declined.code).toBe(1);
    expect((await root.tokenLookupAccessor(leftover.accessor)).accessor).toBe(leftover.accessor);

    const approved = await onTerminal(['posture', 'fix', id], 'y\n');
    expect(approved.output).toContain(`[fixed] ${id}`);
    expect(approved.code).toBe(0);
    await expect(root.tokenLookupAccessor(leftover.accessor)).rejects.toThrow(/invalid accessor/);
  });
});
