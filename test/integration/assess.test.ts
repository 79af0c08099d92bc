import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BreachAssessment } from '../../src/assess/assess.service.js';
import type { LeakTrace } from '../../src/leak/leak-trace.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';

/**
 * The scenario on a real OpenBao: normal application traffic, then an attacker with the
 * mailer's stolen AppRole credentials on another address (127.0.0.2) reading four tenants and the
 * test tenant, probing others, guessing a password and using the root token. The assessment must
 * name exactly the four tenants.
 */

const ATTACKER_ADDRESS = '127.0.0.2';
const ATTACKED = ['tenant-0005', 'tenant-0006', 'tenant-0007', 'tenant-0008'];

interface Call {
  status: number;
  body: { auth?: { client_token: string; accessor: string }; data?: Record<string, unknown> } | null;
}

describe('assess and leak trace on a real OpenBao', () => {
  let lab: TestLab;
  let address: string;
  let rootToken: string;
  let attackerAgent: Agent;
  let attacker: { token: string; accessor: string };
  let mailer: { token: string; accessor: string };
  let attackStartedAt: Date;
  const storeFile = () => join(lab.dir, 'sealwatch.db');

  async function call(
    method: string,
    path: string,
    token: string | null,
    body?: unknown,
    from?: Agent,
  ): Promise<Call> {
    const res = await request(`${address}/v1/${path}`, {
      method: method as 'GET',
      headers: token ? { 'x-vault-token': token } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
      ...(from ? { dispatcher: from } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? (JSON.parse(text) as Call['body']) : null };
  }

  async function appLogin(role: string, from?: Agent): Promise<{ token: string; accessor: string }> {
    const app = lab.lab().apps.find((a) => a.role === role)!;
    const res = await call(
      'POST',
      'auth/approle/login',
      null,
      { role_id: app.role_id, secret_id: app.secret_id },
      from,
    );
    expect(res.status).toBe(200);
    return { token: res.body!.auth!.client_token, accessor: res.body!.auth!.accessor };
  }

  /** `sealwatch audit ingest` of the lab's audit log into the lab's store (dedup makes re-runs safe). */
  async function ingestAuditLog(): Promise<void> {
    const run = await runCli(['audit', 'ingest', lab.lab().audit_log, '--config', lab.configFile]);
    expect(run.code, run.stderr).toBe(0);
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 15 });
    address = lab.lab().nodes[0]!.address;
    rootToken = lab.lab().root_token;
    attackerAgent = new Agent({ localAddress: ATTACKER_ADDRESS });

    // Normal traffic: the mail relay reads three tenants, billing two API keys.
    mailer = await appLogin('mailer');
    for (const tenant of ['tenant-0001', 'tenant-0002', 'tenant-0003'])
      expect((await call('GET', `secret/data/tenants/${tenant}/smtp`, mailer.token)).status).toBe(200);
    expect((await call('GET', 'secret/data/tenants/tenant-0001/dkim', mailer.token)).status).toBe(200);
    const billing = await appLogin('billing');
    for (const tenant of ['tenant-0001', 'tenant-0002'])
      expect((await call('GET', `secret/data/api_keys/${tenant}/key-1`, billing.token)).status).toBe(200);

    // Audit times have sub-second precision; a pause makes "after the normal traffic" unambiguous.
    await sleep(1100);
    attackStartedAt = new Date();
    await sleep(50);

    // The attacker, from another address with the mailer's stolen AppRole credentials.
    attacker = await appLogin('mailer', attackerAgent);
    for (const tenant of [...ATTACKED, 'test-tenant-id'])
      expect(
        (await call('GET', `secret/data/tenants/${tenant}/smtp`, attacker.token, undefined, attackerAgent))
          .status,
      ).toBe(200);
    for (const path of [
      'secret/data/tenants/tenant-0009/ssh',
      'secret/data/tenants/tenant-0010/database',
      'secret/data/api_keys/tenant-0011/key-1',
    ])
      expect((await call('GET', path, attacker.token, undefined, attackerAgent)).status).toBe(403);
    for (let i = 0; i < 6; i++)
      expect(
        (await call('POST', 'auth/userpass/login/alice', null, { password: `guess-${i}` }, attackerAgent))
          .status,
      ).toBeGreaterThanOrEqual(400);
    // ... and the root token: a backdoor policy and a month-long token.
    expect(
      (
        await call(
          'PUT',
          'sys/policies/acl/backdoor',
          rootToken,
          { policy: 'path "secret/*" { capabilities = ["read"] }' },
          attackerAgent,
        )
      ).status,
    ).toBe(204);
    expect(
      (
        await call(
          'POST',
          'auth/token/create',
          rootToken,
          { policies: ['backdoor'], ttl: '720h', display_name: 'backdoor' },
          attackerAgent,
        )
      ).status,
    ).toBe(200);

    await ingestAuditLog();
  }, 240_000);

  afterAll(async () => {
    await attackerAgent?.close();
    await lab?.stop();
  });

  it('names exactly the tenants the attacker read, never the excluded test tenant', async () => {
    const run = await runCli(['assess', '--json', '--config', lab.configFile]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = run.json<BreachAssessment>();
    expect(result.affected_tenants).toEqual(ATTACKED);
    expect(result.excluded_tenants_read).toEqual(['test-tenant-id']);
    expect(result.breach_scope).toBe('limited');
    expect(result.accessed_secrets).toBe(5);
    expect(result.accessors_hmac).toBe('none');

    const fired = result.rules.filter((r) => r.events > 0).map((r) => r.id);
    expect(fired).toEqual(
      expect.arrayContaining([
        'permission-denied',
        'login-failure',
        'login-burst',
        'root-token',
        'many-tenants',
        'sys-change',
        'token-long-ttl',
      ]),
    );
    expect(result.rules.find((r) => r.id === 'permission-denied')?.events).toBe(3);
    expect(result.rules.find((r) => r.id === 'login-failure')?.events).toBe(6);
    // The whole lab lives inside the default 24 h window: no history, so no address is called new.
    expect(result.rules.find((r) => r.id === 'new-address')?.events).toBe(0);
    expect(result.notes.join('\n')).toMatch(/no events stored before the window/);
    expect(
      result.suspicious.find((s) => s.rule === 'sys-change' && s.path === 'sys/policies/acl/backdoor')
        ?.explanation,
    ).toMatch(/policy written/);
    expect(result.suspicious.find((s) => s.rule === 'token-long-ttl')?.explanation).toMatch(/ttl 30d > 24h/);

    const actor = result.actors.find((a) => a.accessor === attacker.accessor);
    expect(actor).toMatchObject({
      display_name: 'approle',
      remote_addresses: [ATTACKER_ADDRESS],
      reads: 5,
      denied: 3,
      tenants: ATTACKED,
    });
    expect(actor!.rules).toEqual(expect.arrayContaining(['permission-denied', 'many-tenants']));
    expect(result.actors.find((a) => a.accessor === mailer.accessor)).toBeUndefined();
    expect(result.actors.find((a) => a.actor === `address:${ATTACKER_ADDRESS}`)?.rules).toEqual([
      'login-failure',
      'login-burst',
    ]);
    // Setting the lab up used the root token inside this window, and that is where the timeline starts.
    expect(result.breach_detected_at).toBe(result.suspicious.find((s) => s.rule === 'root-token')?.time);
    expect(result.not_audited.join('\n')).toMatch(/sys\/seal/);
  });

  it('calls the attacker address new when the window starts after the normal traffic', async () => {
    const run = await runCli([
      'assess',
      '--json',
      '--since',
      attackStartedAt.toISOString(),
      '--config',
      lab.configFile,
    ]);
    expect(run.code).toBe(0);
    const result = run.json<BreachAssessment>();
    expect(result.affected_tenants).toEqual(ATTACKED);
    const fresh = result.suspicious.filter((s) => s.rule === 'new-address');
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.every((s) => s.remote_address === ATTACKER_ADDRESS)).toBe(true);
    expect(result.breach_detected_at! > attackStartedAt.toISOString().replace(/Z$/, '')).toBe(true);
  });

  it('prints a readable report and exits 3 with --fail-on high', async () => {
    const run = await runCli(['assess', '--fail-on', 'high', '--config', lab.configFile]);
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/affected tenants: tenant-0005, tenant-0006, tenant-0007, tenant-0008/);
    expect(run.stdout).toMatch(/many-tenants/);
    expect(run.stdout).toMatch(/not in any audit log/);
  });

  it('traces a leaked value to exactly the reads that returned it, without ever showing it', async () => {
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const vault = lab.client();
    await vault
      .kv('secret')
      .write('tenants/tenant-0012/smtp', { host: 'smtp.mail.example', password: canary });
    const operator = (await vault.tokenCreate({ policies: ['operator'], ttl: '1h', display_name: 'support' }))
      .client_token;
    expect((await call('GET', 'secret/data/tenants/tenant-0012/smtp', mailer.token)).status).toBe(200);
    expect((await call('GET', 'secret/data/tenants/tenant-0012/smtp', operator)).status).toBe(200);
    expect((await call('GET', 'secret/data/tenants/tenant-0013/smtp', mailer.token)).status).toBe(200);
    await ingestAuditLog();

    const valueFile = join(lab.dir, 'leaked.txt');
    writeFileSync(valueFile, `${canary}\n`, { mode: 0o600 });
    const run = await runCli([
      'leak',
      'trace',
      '--value-file',
      valueFile,
      '--json',
      '--config',
      lab.configFile,
    ]);
    expect(run.code).toBe(0);
    const trace = run.json<LeakTrace>();
    expect(trace.hash_lookups).toBe(1);
    const reads = trace.events.filter((e) => e.type === 'response');
    expect(reads.map((e) => [e.operation, e.path, e.display_name])).toEqual([
      ['read', 'secret/data/tenants/tenant-0012/smtp', 'approle'],
      ['read', 'secret/data/tenants/tenant-0012/smtp', 'token-support'],
    ]);
    expect(reads[0]!.accessor).toBe(mailer.accessor);
    // Besides the two reads, only the write that planted it carried the value (as its request).
    expect(
      trace.events.filter((e) => e.type === 'request').map((e) => [e.operation, e.path, e.display_name]),
    ).toEqual([['update', 'secret/data/tenants/tenant-0012/smtp', 'root']]);
    expect(trace.events.some((e) => e.path === 'secret/data/tenants/tenant-0013/smtp')).toBe(false);

    const human = await runCli(['leak', 'trace', '--value-file', valueFile, '--config', lab.configFile]);
    for (const output of [run.stdout, run.stderr, human.stdout, human.stderr])
      expect(output).not.toContain(canary);
    for (const file of [storeFile(), `${storeFile()}-wal`].filter((f) => existsSync(f)))
      expect(readFileSync(file).includes(Buffer.from(canary))).toBe(false);
  });

  it('traces a leaked token to its login and every request made with it', async () => {
    const run = await runCli(['leak', 'trace', '--token-stdin', '--json', '--config', lab.configFile], {
      input: `${attacker.token}\n`,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain(attacker.token);
    const trace = run.json<LeakTrace>();
    expect(
      trace.events.every((e) => e.accessor === attacker.accessor && e.remote_address === ATTACKER_ADDRESS),
    ).toBe(true);
    expect(trace.events[0]).toMatchObject({ type: 'response', path: 'auth/approle/login' });
    const requests = trace.events.filter((e) => e.type === 'request');
    expect(requests).toHaveLength(ATTACKED.length + 1 + 3);
  });

  it('refuses to guess which input to trace', async () => {
    expect((await runCli(['leak', 'trace', '--config', lab.configFile])).code).toBe(2);
    const both = await runCli([
      'leak',
      'trace',
      '--value-file',
      'x',
      '--token-stdin',
      '--config',
      lab.configFile,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --value-file/);
  });
});
