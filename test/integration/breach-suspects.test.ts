import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BreachAssessment } from '../../src/assess/assess.service.js';
import type { IncidentReport } from '../../src/playbook/report.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startPlainServer, type PlainServer } from '../harness/bao-server.js';
import { runCli } from '../harness/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.js';

const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];
/** What the quiet attacker reads with the stolen mailer credential. */
const ATTACKED = ['acme', 'globex'];
/** What the billing application reads every day, through userpass. */
const BILLING = ['initech', 'umbrella'];
/** What the mailer's policy lets it read: more than the attacker reads, fewer than every tenant. */
const MAILER_GRANTS = ['acme', 'globex', 'initech'];
/** Granted to the mailer but not read by the attacker: at risk, not affected (umbrella is neither). */
const AT_RISK = MAILER_GRANTS.filter((t) => !ATTACKED.includes(t));

/**
 * A server an operator set up by hand (not the lab): AppRole role `mailer`, a userpass user for
 * the billing application, tenant SMTP secrets in KV v2 and a file audit device with OpenBao's
 * defaults (accessors HMAC'd). The attacker logs in with the stolen mailer credential and reads two
 * tenants' secrets, as the application would: no refusal, no burst, nothing a rule flags.
 */
describe('breach scope from what the responder knows, on a server the lab did not make', () => {
  let dir: string;
  let server: PlainServer;
  let smtp: TestSmtpServer;
  let config: string;
  let since: string;
  let attackerAccessor: string;
  const env = () => ({ BAO_ADDR: server.address, BAO_TOKEN: server.rootToken });
  const cli = (args: string[], input?: string) =>
    runCli([...args, '--config', config], { env: env(), cwd: dir, ...(input ? { input } : {}) });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-suspects-'));
    const auditLog = join(dir, 'audit.log');
    server = await startPlainServer({ shares: 1, auditFile: auditLog });
    smtp = await startSmtpServer({ authOptional: true });
    const root = server.client(server.rootToken);
    await root.enableAuth('approle', { type: 'approle' });
    await root.enableAuth('userpass', { type: 'userpass' });
    await root.write('sys/mounts/secret', { type: 'kv', options: { version: '2' } });
    const kv = root.kv('secret');
    for (const tenant of TENANTS) {
      await kv.write(`tenants/${tenant}/smtp`, { username: `${tenant}-mail`, password: `pw-${tenant}` });
      await kv.write(`tenants/${tenant}/profile`, { contact_email: `security@${tenant}.example` });
    }
    // More than either reads: the policy lets both read every tenant.
    await root.writePolicy('tenant-reader', 'path "secret/data/tenants/*" { capabilities = ["read"] }');
    await root.writePolicy(
      'mailer',
      MAILER_GRANTS.map((t) => `path "secret/data/tenants/${t}/*" { capabilities = ["read"] }`).join('\n'),
    );
    await root.write('auth/approle/role/mailer', { token_policies: ['mailer'] });
    await root.write('auth/userpass/users/billing', {
      password: 'billing-pw',
      token_policies: ['tenant-reader'],
    });
    const roleId = (await root.read<{ role_id: string }>('auth/approle/role/mailer/role-id')).data.role_id;
    const secretId = (await root.write<{ secret_id: string }>('auth/approle/role/mailer/secret-id', {}))?.data
      ?.secret_id;
    if (!secretId) throw new Error('no secret ID for mailer');

    // The window starts after the setup: the root token's setup calls are not part of the breach.
    await new Promise((done) => setTimeout(done, 1100));
    since = new Date(Date.now() - 50).toISOString();
    const login = async (path: string, body: Record<string, unknown>): Promise<VaultClient> =>
      server.client((await root.write(path, body, { token: null }))!.auth!.client_token);
    const billing = await login('auth/userpass/login/billing', { password: 'billing-pw' });
    for (const tenant of BILLING) await billing.kv('secret').read(`tenants/${tenant}/smtp`);
    const attacker = await login('auth/approle/login', { role_id: roleId, secret_id: secretId });
    attackerAccessor = (await attacker.tokenLookupSelf()).accessor;
    for (const tenant of ATTACKED) await attacker.kv('secret').read(`tenants/${tenant}/smtp`);

    writeFileSync(join(dir, 'keys.txt'), `${server.unsealKeys[0]}\n`, { mode: 0o600 });
    config = join(dir, 'sealwatch.yaml');
    writeFileSync(
      config,
      [
        'store: { url: sealwatch.db }',
        'tenancy:',
        '  paths:',
        '    - secret/tenants/{tenant}/smtp',
        '  source: { kind: kv, path: secret/tenants }',
        'rotation:',
        "  secrets: [{ kind: smtp, path: 'secret/tenants/{tenant}/smtp' }]",
        'notify:',
        '  from: Security <security@provider.example>',
        `  smtp: { host: 127.0.0.1, port: ${smtp.port}, starttls: none }`,
        '  retries: { attempts: 1, backoff_ms: 0 }',
        '',
      ].join('\n'),
    );
    const ingest = await cli(['audit', 'ingest', auditLog]);
    expect(ingest.code, ingest.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await smtp?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const assessJson = async (...args: string[]) => {
    const result = await cli(['assess', '--json', '--since', since, ...args]);
    expect(result.code, result.stderr).toBe(0);
    return result.json<BreachAssessment>();
  };

  it('without a suspect, no actor is implicated: assess warns and --fail-on exits 3', async () => {
    const plain = await assessJson();
    expect(plain.affected_tenants).toEqual([]);
    expect(plain.secret_readers).toEqual({ actors: 2, tenants: 4 });
    expect(plain.scope_decision).toMatch(
      /2 actor\(s\) read secrets of 4 tenant\(s\).*--suspect KIND:VALUE.*--scope conservative\|all/,
    );
    const gate = await cli(['assess', '--since', since, '--fail-on', 'critical']);
    expect(gate.code).toBe(3);
    expect(gate.stdout).toMatch(/^warning: no actor a rule or a suspect implicates/m);
  });

  it('a suspect role implicates the attacker: exactly the tenants it read', async () => {
    const result = await assessJson('--suspect', 'role:approle/mailer');
    expect(result.affected_tenants).toEqual(ATTACKED);
    expect(result.scope_decision).toBeNull();
    expect(result.suspects).toHaveLength(1);
    expect(result.suspects[0]).toMatchObject({ suspect: 'role:approle/mailer', kind: 'role' });
    expect(result.suspects[0]!.matched_actors).toHaveLength(1);
    expect(result.suspects[0]!.matched_events).toBeGreaterThanOrEqual(2);
    const actor = result.actors.find((a) => a.actor === result.suspects[0]!.matched_actors[0]);
    expect(actor).toMatchObject({ tenants: ATTACKED, reasons: ['named as suspect by the responder'] });

    // Could-read beside did-read: the mailer policy grants three tenants; the attacker read two.
    expect(actor!.policies).toEqual(['default', 'mailer']);
    expect(actor!.could_read).toEqual(MAILER_GRANTS);
    expect(result.at_risk_tenants).toEqual(AT_RISK);
    expect(result.suspect_reach).toEqual([
      { suspect: 'role:approle/mailer', policies: ['default', 'mailer'], could_read: MAILER_GRANTS },
    ]);
    const text = await cli(['assess', '--since', since, '--suspect', 'role:approle/mailer']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`at risk (could read, no read on record): ${AT_RISK.join(', ')}`);

    // The device HMACs accessors: the raw accessor matches through sys/audit-hash.
    const byAccessor = await assessJson('--suspect', `accessor:${attackerAccessor}`);
    expect(byAccessor.affected_tenants).toEqual(ATTACKED);
    expect(byAccessor.accessors_hmac).toBe('all');

    // leak trace marks the events of the suspect that carried the leaked value.
    writeFileSync(join(dir, 'leaked.txt'), 'pw-acme\n', { mode: 0o600 });
    const trace = await cli([
      'leak',
      'trace',
      '--json',
      '--value-file',
      join(dir, 'leaked.txt'),
      '--suspect',
      'role:approle/mailer',
    ]);
    expect(trace.code, trace.stderr).toBe(0);
    const traced = trace.json<{
      events: { path: string; suspects: string[] }[];
      suspects: { suspect: string }[];
    }>();
    expect(traced.suspects.map((m) => m.suspect)).toEqual(['role:approle/mailer']);
    expect(
      traced.events.filter((e) => e.suspects.includes('role:approle/mailer')).map((e) => e.path),
    ).toEqual(['secret/data/tenants/acme/smtp']);

    const conservative = await assessJson('--scope', 'conservative');
    expect(conservative.affected_tenants).toEqual(TENANTS);
    const all = await assessJson('--scope', 'all');
    expect(all.affected_tenants).toEqual(TENANTS);
  });

  it('a suspect matching nothing is a finding; bad suspects are one-line usage errors', async () => {
    const nothing = await assessJson(
      '--suspect',
      'display-name:nobody',
      '--suspect',
      'accessor:no-such-accessor',
    );
    expect(nothing.notes).toContain(
      'suspect display-name:nobody matched no audit event in the window: the id may be wrong',
    );
    expect(nothing.notes).toContain(
      'suspect accessor:no-such-accessor matched no audit event in the window: the id may be wrong',
    );
    for (const [suspect, message] of [
      [
        'address:10.0.0.0/33',
        /^sealwatch: --suspect address:10\.0\.0\.0\/33: address: "10\.0\.0\.0\/33" is not an IP address or CIDR/,
      ],
      ['colour:blue', /^sealwatch: --suspect colour:blue: unknown kind "colour"/],
      ['role:mailer', /^sealwatch: --suspect role:mailer: role: give MOUNT\/ROLE/],
    ] as const) {
      const bad = await cli(['assess', '--since', since, '--suspect', suspect]);
      expect(bad.code, suspect).toBe(2);
      expect(bad.stderr.trim().split('\n'), suspect).toHaveLength(1);
      expect(bad.stderr.trim(), suspect).toMatch(message);
    }
    const notAToken = await cli(['assess', '--since', since, '--suspect', 'token-stdin'], 'not a token\n');
    expect(notAToken.code).toBe(2);
    expect(notAToken.stderr.trim()).toMatch(
      /^sealwatch: --suspect token-stdin: standard input does not hold a Vault\/OpenBao token$/,
    );
    const badBreach = await cli(['respond', 'breach', '--yes', '--suspect', 'address:300.1.1.1']);
    expect(badBreach.code).toBe(2);
    expect(badBreach.stderr.trim().split('\n')).toHaveLength(1);
    // Nothing half-done: no incident was declared.
    expect((await cli(['incident', 'list', '--json'])).json<{ incidents: unknown[] }>().incidents).toEqual(
      [],
    );
  });

  it('a policy that cannot be read is a could-not-read note, not an empty could-read', async () => {
    await server
      .client(server.rootToken)
      .writePolicy(
        'assessor',
        [
          'path "sys/audit-hash/*" { capabilities = ["update"] }',
          'path "sys/audit" { capabilities = ["read", "sudo"] }',
          'path "auth/token/lookup-self" { capabilities = ["read"] }',
          'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }',
          'path "secret/metadata/tenants" { capabilities = ["list"] }',
          'path "secret/metadata/tenants/" { capabilities = ["list"] }',
          'path "auth/approle/role/*" { capabilities = ["read"] }',
        ].join('\n'),
      );
    const token = (await server
      .client(server.rootToken)
      .write<never>('auth/token/create', { policies: ['assessor'] }))!.auth!.client_token;
    const limited = await runCli(
      [
        'assess',
        '--json',
        '--since',
        since,
        '--suspect',
        'role:approle/mailer',
        '--suspect',
        'role:userpass/nobody',
        '--config',
        config,
      ],
      { env: { BAO_ADDR: server.address, BAO_TOKEN: token }, cwd: dir },
    );
    expect(limited.code, limited.stderr).toBe(0);
    const result = limited.json<BreachAssessment>();
    expect(result.affected_tenants).toEqual(ATTACKED);
    expect(result.at_risk_tenants).toEqual([]);
    // A role this token cannot read: named with every path it could be at (the method is not known).
    expect(result.suspect_reach).toContainEqual({
      suspect: 'role:userpass/nobody',
      policies: null,
      could_read: null,
    });
    expect(result.notes).toContainEqual(
      expect.stringMatching(
        /^could not read role userpass\/nobody \(needs read on auth\/userpass\/role\/nobody or auth\/userpass\/users\/nobody or auth\/userpass\/roles\/nobody: .*permission denied.*\): what suspect role:userpass\/nobody could read is not known$/,
      ),
    );
    expect(result.notes.filter((n) => n.startsWith('could not read policy mailer '))).toEqual([
      expect.stringMatching(
        /^could not read policy mailer \(needs read on sys\/policies\/acl\/mailer: .*permission denied.*\): could-read is a lower bound$/,
      ),
    ]);
  });

  it('respond breach --yes stops at assess with the decision, and resumes with --suspect: notices to the two tenants read and, with --notify at-risk, the one that could have been read', async () => {
    const common = ['--unseal-keys-file', join(dir, 'keys.txt')];
    const first = await cli([
      'respond',
      'breach',
      '--yes',
      '--json',
      '--since',
      since,
      '--incident',
      'inc-quiet',
      '--new-keys-out',
      join(dir, 'new-keys.txt'),
      '--notify',
      'at-risk',
      ...common,
    ]);
    expect(first.code, first.stderr).toBe(1);
    const failed = first.json<IncidentReport>();
    const assess = failed.steps.find((s) => s.id === 'assess')!;
    expect(assess.status).toBe('failed');
    expect(assess.error).toMatch(
      /^no actor a rule or a suspect implicates read a tenant secret, but 2 actor\(s\) read secrets of 4 tenant\(s\) in the window: name the leaked credential with --suspect KIND:VALUE, or widen the scope with --scope conservative\|all$/,
    );
    expect(smtp.messages()).toEqual([]);

    const resumed = await cli([
      'incident',
      'resume',
      'inc-quiet',
      '--yes',
      '--json',
      '--suspect',
      'role:approle/mailer',
      ...common,
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const report = resumed.json<IncidentReport>();
    expect(report.state).toBe('completed');
    expect(report.affected_tenants).toEqual(ATTACKED);
    expect(report.at_risk_tenants).toEqual(AT_RISK);
    expect(report.affected_scope).toBe('implicated');
    // --notify at-risk (journalled at declaration): the read tenants and the could-read ones, each told which.
    const received = smtp.messages().map((m) => ({
      to: m.to,
      body: m.raw.replace(/=\r?\n/g, '').replace(/\s+/g, ' '),
    }));
    const noticeOf = (tenant: string) => received.filter((m) => m.to.includes(`security@${tenant}.example`));
    expect(received.flatMap((m) => m.to).sort()).toEqual(MAILER_GRANTS.map((t) => `security@${t}.example`));
    for (const tenant of ATTACKED) {
      expect(noticeOf(tenant)[0]!.body, tenant).toContain('Your secrets were read');
      expect(noticeOf(tenant)[0]!.body, tenant).not.toContain('could have been read');
    }
    for (const tenant of AT_RISK) {
      expect(noticeOf(tenant)[0]!.body, tenant).toContain(
        'Your secrets could have been read: the credential involved had access to them, but no read of them is on record.',
      );
      expect(noticeOf(tenant)[0]!.body, tenant).not.toContain('Your secrets were read');
    }
    const md = await cli(['incident', 'report', 'inc-quiet', '--format', 'md']);
    expect(md.stdout).toContain(`At risk (could read, no read on record): 1: ${AT_RISK.join(', ')}`);
    const shown = await cli(['incident', 'show', 'inc-quiet', '--json']);
    expect(shown.stdout).toContain('options_amended');
  }, 240_000);
});
