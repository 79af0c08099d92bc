import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { IncidentReport } from '../../src/playbook/report.js';
import type { RunbookDiagnosis as Diagnosis } from '../../src/runbooks/runbook.js';
import { diagnose } from '../../src/runbooks/runbook.js';
import { secretLeakRunbook } from '../../src/runbooks/runbooks/secret-leak.runbook.js';
import { Store } from '../../src/store/store.js';
import { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { labSite } from '../../src/lab/lab-site.js';

const TENANT = 'tenant-0003';
const SMTP = `secret/tenants/${TENANT}/smtp`;
const SMTP_API = `secret/data/tenants/${TENANT}/smtp`;
/** The unexpected reader and the leaked token's user each come from an address of their own. */
const READER_ADDRESS = '127.0.0.2';
const LEAKER_ADDRESS = '127.0.0.3';

/**
 * The secret-leak runbook on a real 3-node OpenBao: a value planted in a tenant's SMTP secret is
 * read by the mail relay (expected) and by a support token whose `operator` policy can read every
 * tenant (unexpected); a billing token leaks and is used from elsewhere. Diagnose names exactly
 * those reads and the rule that allowed them; the run rotates the secret, destroys the planted
 * versions, denies the path in `operator`, revokes the token and declares a second audit device.
 */
describe('runbook secret-leak against a real 3-node OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let address: string;
  let readerAgent: Agent;
  let leakerAgent: Agent;
  const canary = `canary-${randomBytes(16).toString('hex')}`;
  let valueFile: string;
  let support: { token: string; accessor: string };
  let mailer: { token: string; accessor: string };
  let leaked: { token: string; accessor: string };
  let plantedVersion: number;
  const outputs: string[] = [];
  /** Values that must never be printed or stored, besides the canary and the leaked token. */
  const secrets: string[] = [];

  const cli = async (args: string[], input?: string) => {
    const result = await runCli([...args, '--config', lab.configFile], {
      cwd: lab.dir,
      timeoutMs: 180_000,
      ...(input ? { input } : {}),
    });
    outputs.push(result.stdout, result.stderr);
    return result;
  };

  async function call(path: string, token: string, from?: Agent, body?: unknown) {
    const res = await request(`${address}/v1/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-vault-token': token },
      body: body === undefined ? undefined : JSON.stringify(body),
      ...(from ? { dispatcher: from } : {}),
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      body: (text ? JSON.parse(text) : null) as {
        auth?: { client_token: string; accessor: string };
        data?: Record<string, string>;
      } | null,
    };
  }

  /**
   * The diagnosis alone, timed in this process as the CLI runs it (2.5 s timeout, no retries): on
   * a loaded two-core machine starting node costs seconds that are not the diagnosis's.
   */
  async function timedDiagnosis(raw: Record<string, unknown>, token?: string): Promise<number> {
    const config = loadConfig({ config: lab.configFile });
    const client = new VaultClient({
      addresses: [...config.vault.addresses],
      token: lab.lab().root_token,
      timeoutMs: 2_500,
      retries: 0,
      maxConnections: 8,
      logger: silentLogger(),
    });
    const store = await Store.open(config.store.url);
    try {
      const started = Date.now();
      await diagnose(
        secretLeakRunbook,
        {
          vault: client,
          store,
          config,
          logger: silentLogger(),
          runtime: { leakedValue: () => Promise.resolve(token) },
          site: labSite(config.lab?.file, { logger: silentLogger() }),
        },
        secretLeakRunbook.options.parse(raw),
      );
      return (Date.now() - started) / 1000;
    } finally {
      await client.close();
      await store.close();
    }
  }

  const tokenOf = async (policies: string[], displayName: string) => {
    const auth = await vault.tokenCreate({ policies, ttl: '2h', display_name: displayName });
    return { token: auth.client_token, accessor: auth.accessor };
  };

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 5 });
    vault = lab.client();
    address = lab.lab().nodes[0]!.address;
    readerAgent = new Agent({ localAddress: READER_ADDRESS });
    leakerAgent = new Agent({ localAddress: LEAKER_ADDRESS });

    const kv = vault.kv('secret');
    const current = (await kv.read<Record<string, string>>(`tenants/${TENANT}/smtp`))!.data;
    plantedVersion = (await kv.write(`tenants/${TENANT}/smtp`, { ...current, password: canary })).version;
    valueFile = join(lab.dir, 'leaked-value.txt');
    writeFileSync(valueFile, `${canary}\n`, { mode: 0o600 });

    // The mail relay reads it (expected: an application); a support token reads it from elsewhere.
    const app = lab.lab().apps.find((a) => a.role === 'mailer')!;
    const login = await request(`${address}/v1/auth/approle/login`, {
      method: 'POST',
      body: JSON.stringify({ role_id: app.role_id, secret_id: app.secret_id }),
    });
    const auth = ((await login.body.json()) as { auth: { client_token: string; accessor: string } }).auth;
    mailer = { token: auth.client_token, accessor: auth.accessor };
    expect((await call(SMTP_API, mailer.token)).status).toBe(200);
    support = await tokenOf(['operator'], 'support-desk');
    expect((await call(SMTP_API, support.token, readerAgent)).status).toBe(200);

    // A billing token that leaked, used from a third address.
    leaked = await tokenOf(['billing'], 'billing-leaked');
    expect((await call(`secret/data/api_keys/${TENANT}/key-1`, leaked.token, leakerAgent)).status).toBe(200);
  }, 240_000);

  afterAll(async () => {
    await readerAgent?.close();
    await leakerAgent?.close();
    await lab?.stop();
  });

  it('names every read of a planted value, its reader, address and path, and the rule that allowed it', async () => {
    const result = await cli([
      'runbook',
      'diagnose',
      'secret-leak',
      '--value-file',
      valueFile,
      '--json',
      '--fail-on',
      'high',
    ]);
    expect(result.code, result.stderr).toBe(3);
    const diagnosis = result.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(false);
    const ids = diagnosis.findings.map((f) => f.id);
    expect(ids).toContain('leaked-value-current');

    const current = diagnosis.findings.find((f) => f.id === 'leaked-value-current')!;
    expect(current.evidence).toMatchObject({
      path: SMTP,
      api_path: SMTP_API,
      fields: ['password'],
      versions: [plantedVersion],
      current_version: plantedVersion,
      tenant: TENANT,
      kind: 'smtp',
      rotatable: true,
    });
    expect((current.evidence['writes'] as { display_name: string }[]).map((w) => w.display_name)).toEqual([
      'root',
    ]);

    const reads = diagnosis.findings.filter((f) => f.id === 'leaked-value-read');
    expect(reads.map((f) => [f.evidence['display_name'], f.evidence['expected'], f.severity]).sort()).toEqual(
      [
        ['approle', true, 'info'],
        ['token-support-desk', false, 'high'],
      ],
    );
    const unexpected = reads.find((f) => f.evidence['expected'] === false)!;
    expect(unexpected.evidence).toMatchObject({
      accessor: support.accessor,
      remote_addresses: [READER_ADDRESS],
      paths: [SMTP_API],
      token_valid: true,
      allowed_by: [{ policy: 'operator', path: SMTP_API, rule_path: 'secret/*' }],
    });
    expect((unexpected.evidence['reads'] as unknown[]).length).toBe(1);
    expect(reads.find((f) => f.evidence['expected'] === true)!.evidence['accessor']).toBe(mailer.accessor);

    const grants = diagnosis.findings.filter((f) => f.id === 'policy-allows-leaked-path');
    expect(grants.map((f) => f.evidence)).toEqual([
      {
        policy: 'operator',
        path: SMTP_API,
        rule_path: 'secret/*',
        capabilities: expect.arrayContaining(['read']),
        readers: [support.accessor],
        policy_text: expect.stringContaining('path "secret/*"'),
      },
    ]);
    const single = diagnosis.findings.find((f) => f.id === 'single-audit-device')!;
    expect(single.evidence).toMatchObject({
      devices: [{ path: 'file/', type: 'file' }],
      config_files_known: true,
    });
    const seconds = await timedDiagnosis({ valueFile });
    expect(seconds, `diagnose took ${seconds} s`).toBeLessThan(3);
  });

  it('names a leaked token: still valid, its accessor, policies and every call made with it', async () => {
    const result = await cli(
      ['runbook', 'diagnose', 'secret-leak', '--token-stdin', '--json', '--fail-on', 'critical'],
      `${leaked.token}\n`,
    );
    expect(result.code, result.stderr).toBe(3);
    const diagnosis = result.json<Diagnosis>();
    const valid = diagnosis.findings.find((f) => f.id === 'leaked-token-valid')!;
    expect(valid.evidence).toMatchObject({
      accessor: leaked.accessor,
      display_name: 'token-billing-leaked',
      policies: ['billing', 'default'],
    });
    const used = diagnosis.findings.find((f) => f.id === 'leaked-token-used')!;
    expect(used.evidence['remote_addresses']).toEqual([LEAKER_ADDRESS]);
    expect((used.evidence['uses'] as { path: string }[]).map((u) => u.path)).toContain(
      `secret/data/api_keys/${TENANT}/key-1`,
    );
    const seconds = await timedDiagnosis({ tokenStdin: true }, leaked.token);
    expect(seconds, `diagnose took ${seconds} s`).toBeLessThan(3);
  });

  it('a dry run shows the plan as data, the policy change as a diff, and changes nothing', async () => {
    const result = await cli([
      'runbook',
      'run',
      'secret-leak',
      '--value-file',
      valueFile,
      '--dry-run',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const plan = result.json<{
      steps: { id: string; skip?: string; actions: { action: string; details?: { diff?: string } }[] }[];
    }>();
    const step = (id: string) => plan.steps.find((s) => s.id === id)!;
    expect(step('revoke-token').skip).toMatch(/not a live token/);
    expect(step('rotate').actions[0]!.action).toContain(SMTP);
    expect(step('destroy-leaked-versions').actions[0]!.action).toContain(`version(s) ${plantedVersion}`);
    expect(step('tighten-policies').actions[0]!.details!.diff).toContain(`+path "${SMTP_API}" {`);
    const human = await cli(['runbook', 'run', 'secret-leak', '--value-file', valueFile, '--dry-run']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`+path "${SMTP_API}" {`);
    expect(human.stdout).toContain('+  capabilities = ["deny"]');
    expect((await vault.readPolicy('operator'))!).not.toContain(SMTP_API);
    expect((await vault.listAuditDevices()).length).toBe(1);
  });

  it('run --yes rotates the secret, destroys the planted versions, denies the path and adds an audit device', async () => {
    const result = await cli(['runbook', 'run', 'secret-leak', '--value-file', valueFile, '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<IncidentReport>();
    expect(report.state).toBe('completed');
    expect(report.steps.map((s) => [s.id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['revoke-token', 'skipped'],
      ['revoke-leases', 'skipped'],
      ['rotate', 'done'],
      ['destroy-leaked-versions', 'done'],
      ['tighten-policies', 'done'],
      ['second-audit-device', 'done'],
      ['verify-healthy', 'done'],
    ]);

    // The secret holds a new value; the planted version is destroyed.
    const kv = vault.kv('secret');
    const now = await kv.read<Record<string, string>>(`tenants/${TENANT}/smtp`);
    expect(now!.data.password).not.toBe(canary);
    expect(now!.metadata.version).toBeGreaterThan(plantedVersion);
    const metadata = (await kv.readMetadata(`tenants/${TENANT}/smtp`))!;
    expect(metadata.versions[String(plantedVersion)]!.destroyed).toBe(true);

    // The support token is refused exactly that path, and only that one.
    expect((await call(SMTP_API, support.token, readerAgent)).status).toBe(403);
    expect((await call('secret/data/tenants/tenant-0004/smtp', support.token, readerAgent)).status).toBe(200);
    expect(await vault.readPolicy('operator')).toContain(`path "${SMTP_API}"`);

    // A second audit device, declared in every node's configuration, and writing.
    const devices = (await vault.listAuditDevices()).map((d) => d.path).sort();
    expect(devices).toEqual(['file/', 'secondary/']);
    for (const node of lab.lab().nodes)
      expect(readFileSync(node.config_file, 'utf8')).toMatch(/audit "file" "secondary" \{/);
    expect(existsSync(join(dirname(lab.lab().audit_log), 'audit-secondary.log'))).toBe(true);

    const after = await cli(['runbook', 'diagnose', 'secret-leak', '--value-file', valueFile, '--json']);
    expect(after.code, after.stderr).toBe(0);
    const diagnosis = after.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(true);
    expect(diagnosis.findings.some((f) => f.id === 'single-audit-device')).toBe(false);

    const shown = await cli(['incident', 'show', report.incident_id, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('+path');
    const human = await cli(['incident', 'report', report.incident_id]);
    expect(human.code, human.stderr).toBe(0);
  });

  it('run --token-stdin --yes revokes the leaked token by accessor', async () => {
    const result = await cli(
      ['runbook', 'run', 'secret-leak', '--token-stdin', '--yes', '--json'],
      `${leaked.token}\n`,
    );
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<IncidentReport>();
    expect(report.steps.find((s) => s.id === 'revoke-token')!.status).toBe('done');
    expect((await call('auth/token/lookup-self', leaked.token, leakerAgent)).status).toBe(403);
    expect((await call(`secret/data/api_keys/${TENANT}/key-1`, leaked.token, leakerAgent)).status).toBe(403);
    // The other tokens still work.
    expect((await call('auth/token/lookup-self', support.token)).status).toBe(200);
    expect(result.stdout).not.toContain(leaked.token);
  });

  it('a value found nowhere is a healthy diagnosis; an unreadable value file is a one-line error', async () => {
    const nowhere = join(lab.dir, 'nowhere.txt');
    writeFileSync(nowhere, `never-planted-${randomBytes(8).toString('hex')}`);
    const clean = await cli([
      'runbook',
      'diagnose',
      'secret-leak',
      '--value-file',
      nowhere,
      '--json',
      '--fail-on',
      'low',
    ]);
    expect(clean.code, clean.stderr).toBe(0);
    const diagnosis = clean.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(true);
    expect(diagnosis.findings.map((f) => f.id).sort()).toEqual(['leak-not-found', 'leak-trace']);

    const missing = await cli([
      'runbook',
      'diagnose',
      'secret-leak',
      '--value-file',
      join(lab.dir, 'nope.txt'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/--value-file .*nope\.txt cannot be read \(ENOENT\)/);

    // In a run, the diagnose step fails with the same line; the journal stays resumable.
    const run = await cli([
      'runbook',
      'run',
      'secret-leak',
      '--value-file',
      join(lab.dir, 'nope.txt'),
      '--yes',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /step diagnose failed: secret-leak: --value-file .*nope\.txt cannot be read \(ENOENT\)/,
    );
    const id = /incident (inc-[0-9a-z-]+)/.exec(run.stderr)![1]!;
    const shown = await cli(['incident', 'show', id, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const journal = shown.json<{ incident: { state: string }; steps: { status: string }[] }>();
    expect(journal.incident.state).not.toBe('completed');
    expect(journal.steps.map((step) => step.status)).toContain('failed');

    const neither = await cli(['runbook', 'diagnose', 'secret-leak']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/exactly one of --value-file/);
  });

  it('a private key issued under a lease: names the issuing path, revokes its leases, denies it', async () => {
    await vault.enableMount('pki', { type: 'pki' });
    await vault.write('sys/mounts/pki/tune', { max_lease_ttl: '24h' });
    await vault.write('pki/root/generate/internal', { common_name: 'lab root', ttl: '24h' });
    await vault.write('pki/roles/web', { allow_any_name: true, generate_lease: true, max_ttl: '1h' });
    await vault.writePolicy('pki-issuer', 'path "pki/issue/web" { capabilities = ["update"] }');
    const issuer = await tokenOf(['pki-issuer'], 'cert-bot');
    const issued = await call('pki/issue/web', issuer.token, readerAgent, { common_name: 'leak.example' });
    expect(issued.status).toBe(200);
    const privateKey = issued.body!.data!['private_key']!;
    const serial = issued.body!.data!['serial_number']!;
    secrets.push(privateKey);
    const keyFile = join(lab.dir, 'leaked-key.pem');
    writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600 });

    const before = await cli(['runbook', 'diagnose', 'secret-leak', '--value-file', keyFile, '--json']);
    expect(before.code, before.stderr).toBe(0);
    const diagnosis = before.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(false);
    expect(diagnosis.findings.find((f) => f.id === 'leaked-lease-live')!.evidence).toEqual({
      prefix: 'pki/issue/web',
      mount_type: 'pki',
      leases: 1,
    });
    const read = diagnosis.findings.find((f) => f.id === 'leaked-value-read')!;
    expect(read.evidence).toMatchObject({
      accessor: issuer.accessor,
      display_name: 'token-cert-bot',
      remote_addresses: [READER_ADDRESS],
      allowed_by: [{ policy: 'pki-issuer', rule_path: 'pki/issue/web', capabilities: ['update'] }],
    });

    const run = await cli(['runbook', 'run', 'secret-leak', '--value-file', keyFile, '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = run.json<IncidentReport>();
    expect(report.steps.filter((s) => s.status === 'done').map((s) => s.id)).toEqual([
      'diagnose',
      'revoke-leases',
      'tighten-policies',
      'verify-healthy',
    ]);
    expect(await vault.leaseList('pki/issue/web/')).toEqual([]);
    const cert = await vault.read<{ revocation_time: number }>(`pki/cert/${serial}`);
    expect(cert.data.revocation_time).toBeGreaterThan(0);
    expect(
      (await call('pki/issue/web', issuer.token, readerAgent, { common_name: 'again.example' })).status,
    ).toBe(403);
  });

  it('never shows or stores the planted value: outputs, journal, store', async () => {
    for (const output of outputs) expect(output).not.toContain(canary);
    for (const secret of secrets) for (const output of outputs) expect(output).not.toContain(secret);
    const journal = await cli(['incident', 'list', '--json']);
    expect(journal.stdout).not.toContain(canary);
    const files = readdirSync(lab.dir).filter((f) => f.startsWith('sealwatch.db'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files)
      expect(readFileSync(join(lab.dir, file)).includes(Buffer.from(canary))).toBe(false);
    for (const file of files)
      for (const secret of [leaked.token, ...secrets])
        expect(readFileSync(join(lab.dir, file)).includes(Buffer.from(secret))).toBe(false);
  });
});
