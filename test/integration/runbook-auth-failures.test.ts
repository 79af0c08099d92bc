import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { RunbookDiagnosis as Diagnosis } from '../../src/runbooks/runbook.js';
import type { IncidentReport as Report } from '../../src/playbook/report.js';
import {
  authFailuresRunbook,
  diagnoseAuthFailures,
} from '../../src/runbooks/runbooks/auth-failures.runbook.js';
import { Store } from '../../src/store/store.js';
import { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { labSite } from '../../src/lab/lab-site.js';

/** A real AppRole login as an application makes it (no token); the token, or the server's refusal. */
async function login(
  vault: VaultClient,
  roleId: string,
  secretId: string,
): Promise<{ token?: string; error?: string }> {
  return vault.write('auth/approle/login', { role_id: roleId, secret_id: secretId }, { token: null }).then(
    (res) => ({ token: res!.auth!.client_token }),
    (error: Error) => ({ error: error.message }),
  );
}

describe('runbook auth-failures against a real 3-node OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let scratch: string;
  const cli = (args: string[]) =>
    runCli([...args, '--config', lab.configFile], { cwd: lab.dir, timeoutMs: 180_000 });
  const mailer = () => lab.lab().apps.find((a) => a.role === 'mailer')!;
  const failing = (d: Diagnosis, principal: string) =>
    d.findings.find((f) => f.id === 'login-failing' && f.evidence['principal'] === principal);

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 2 });
    vault = lab.client();
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-auth-'));
  });
  afterAll(async () => {
    await lab?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('says so when the audit store holds nothing, instead of calling the cluster healthy', async () => {
    const result = await cli([
      'runbook',
      'diagnose',
      'auth-failures',
      '--json',
      '--store',
      join(scratch, 'empty.db'),
      '--audit-log',
      '/dev/null',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const diagnosis = result.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(false);
    expect(diagnosis.findings.map((f) => f.id)).toEqual(['audit-store-empty']);
    expect(diagnosis.findings[0]!.suggested_step).toMatch(/sealwatch audit ingest/);
  });

  it('names the mailer role, its mount, the reason and the count of its failed logins', async () => {
    const app = mailer();
    for (let i = 0; i < 4; i++)
      expect((await login(vault, app.role_id, `wrong-secret-${i}`)).error).toMatch(
        /invalid role or secret ID/,
      );
    const result = await cli(['runbook', 'diagnose', 'auth-failures', '--json', '--fail-on', 'medium']);
    expect(result.code, result.stderr).toBe(3);
    const diagnosis = result.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(false);
    const finding = failing(diagnosis, 'mailer')!;
    expect(finding.severity).toBe('medium');
    expect(finding.evidence).toMatchObject({
      mount: 'auth/approle/',
      principal: 'mailer',
      reason: 'invalid-secret-id',
      count: 4,
      role_exists: true,
      remote_addresses: ['127.0.0.1'],
    });
    expect(finding.suggested_step).toContain('--role approle/mailer --secret-id-out');
    const rate = diagnosis.findings.find((f) => f.id === 'auth-failure-rate')!;
    expect(rate.evidence['failed']).toBe(4);
    expect(rate.evidence['hash_device']).toBe('file/');

    // The diagnosis itself, as `runbook diagnose` makes it (2.5 s timeout, no retries): under 3 s.
    const config = loadConfig({ config: lab.configFile }, {}, lab.dir);
    const store = await Store.open(config.store.url);
    const fast = new VaultClient({
      addresses: lab.lab().nodes.map((n) => n.address),
      token: lab.lab().root_token,
      timeoutMs: 2_500,
      retries: 0,
      maxConnections: 16,
      logger: silentLogger(),
    });
    try {
      const t0 = Date.now();
      const findings = await diagnoseAuthFailures(
        {
          vault: fast,
          store,
          config,
          logger: silentLogger(),
          site: labSite(config.lab?.file, { logger: silentLogger() }),
        },
        authFailuresRunbook.options.parse({}),
      );
      const seconds = (Date.now() - t0) / 1000;
      expect(findings.find((f) => f.id === 'login-failing')!.evidence['count']).toBe(4);
      expect(seconds).toBeLessThan(3);
      process.stderr.write(`auth-failures: diagnose ${seconds.toFixed(2)} s\n`);
    } finally {
      await fast.close();
      await store.close();
    }
  });

  it('re-issues a secret ID into a 0600 file, never printing it; the app logs in with it', async () => {
    const out = join(scratch, 'mailer.secret-id');
    const result = await cli([
      'runbook',
      'run',
      'auth-failures',
      '--yes',
      '--json',
      '--role',
      'approle/mailer',
      '--secret-id-out',
      out,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<Report>();
    expect(report.state).toBe('completed');
    expect(report.steps.map((s) => [s.id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['set-role-field', 'skipped'],
      ['reissue-secret-id', 'done'],
      ['verify-login', 'done'],
      ['verify-healthy', 'done'],
    ]);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const secretId = readFileSync(out, 'utf8').trim();
    expect(secretId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.stdout + result.stderr).not.toContain(secretId);
    const shown = await cli(['incident', 'show', '--last', '--json']);
    expect(shown.stdout).not.toContain(secretId);

    // The application, with its role_id and the new secret ID, really logs in.
    const app = await login(vault, mailer().role_id, secretId);
    expect(app.error).toBeUndefined();
    expect((await vault.tokenLookup(app.token!)).policies).toContain('mailer');

    const after = await cli(['runbook', 'diagnose', 'auth-failures', '--json']);
    const diagnosis = after.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(true);
    expect(failing(diagnosis, 'mailer')!.severity).toBe('info');
    expect(failing(diagnosis, 'mailer')!.evidence['recovered_at']).toBeDefined();
  });

  it('names a CIDR-bound role refusing 127.0.0.1, and the field fix makes the app log in', async () => {
    await vault.write('auth/approle/role/reports', {
      token_policies: ['default'],
      secret_id_bound_cidrs: ['10.0.0.0/8'],
    });
    const roleId = (await vault.read<{ role_id: string }>('auth/approle/role/reports/role-id')).data.role_id;
    const secretId = (await vault.write<{ secret_id: string }>('auth/approle/role/reports/secret-id'))!.data
      .secret_id;
    for (let i = 0; i < 3; i++)
      expect((await login(vault, roleId, secretId)).error).toMatch(/unauthorized by CIDR restrictions/);

    const diagnosed = await cli(['runbook', 'diagnose', 'auth-failures', '--json', '--fail-on', 'medium']);
    expect(diagnosed.code, diagnosed.stderr).toBe(3);
    const finding = failing(diagnosed.json<Diagnosis>(), 'reports')!;
    expect(finding.evidence).toMatchObject({
      mount: 'auth/approle/',
      reason: 'bound-cidr-mismatch',
      count: 3,
      secret_id_bound_cidrs: ['10.0.0.0/8'],
      remote_addresses: ['127.0.0.1'],
    });
    expect(finding.suggested_step).toContain('--set-role-field secret_id_bound_cidrs=');

    const result = await cli([
      'runbook',
      'run',
      'auth-failures',
      '--yes',
      '--json',
      '--role',
      'approle/reports',
      '--set-role-field',
      'secret_id_bound_cidrs=127.0.0.1/32',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<Report>();
    expect(report.state).toBe('completed');
    expect(report.steps.find((s) => s.id === 'set-role-field')!.evidence['changes']).toEqual([
      { field: 'secret_id_bound_cidrs', before: ['10.0.0.0/8'], after: ['127.0.0.1/32'] },
    ]);
    // In the cluster: the role accepts 127.0.0.1 now, and the application's own secret ID logs in.
    const role = await vault.read<{ secret_id_bound_cidrs: string[] }>('auth/approle/role/reports');
    expect(role.data.secret_id_bound_cidrs).toEqual(['127.0.0.1/32']);
    expect((await login(vault, roleId, secretId)).token).toBeDefined();
  });

  it('refuses a role that does not exist with a clear message, writing nothing, journal resumable', async () => {
    const out = join(scratch, 'nosuch.secret-id');
    const diagnosed = await cli([
      'runbook',
      'diagnose',
      'auth-failures',
      '--json',
      '--role',
      'approle/nosuch',
    ]);
    const missing = diagnosed.json<Diagnosis>().findings.find((f) => f.id === 'role-not-found')!;
    expect(missing.symptom).toMatch(/role nosuch does not exist on auth\/approle\/.*roles there: .*mailer/);

    const result = await cli([
      'runbook',
      'run',
      'auth-failures',
      '--yes',
      '--role',
      'approle/nosuch',
      '--secret-id-out',
      out,
    ]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(/role nosuch does not exist on auth\/approle\//);
    expect(existsSync(out)).toBe(false);
    const shown = await cli(['incident', 'show', '--last', '--json']);
    const detail = shown.json<{
      incident: { state: string };
      steps: { step_id: string; status: string }[];
    }>();
    expect(detail.incident.state).toBe('failed');
    expect(detail.steps.find((s) => s.step_id === 'reissue-secret-id')!.status).toBe('failed');
    expect(await vault.list('auth/approle/role')).not.toContain('nosuch');
  });
});
