import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import { diagnose, type RunbookDiagnosis } from '../../src/runbooks/runbook.js';
import { authFailuresRunbook } from '../../src/runbooks/runbooks/auth-failures.runbook.js';
import { secretLeakRunbook } from '../../src/runbooks/runbooks/secret-leak.runbook.js';
import { Store } from '../../src/store/store.js';
import { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';

const TENANT = 'tenant-0001';
const SMTP_API = `secret/data/tenants/${TENANT}/smtp`;

/**
 * A diagnosis run with a token whose policy lacks a capability a check needs says "could not
 * check X: needs C on P" as a finding of its own and is not healthy, where it used to report
 * "nothing found". Real one-node OpenBao, real audit log and store; the same diagnosis with the
 * root token is the control (the check can look, no such finding).
 */
describe('runbooks say what they could not check (real OpenBao, restricted token)', () => {
  let lab: TestLab;
  let config: Config;
  let store: Store;
  let limited: string;
  const clients: VaultClient[] = [];

  const client = (token: string) => {
    const c = new VaultClient({
      addresses: lab.lab().nodes.map((n) => n.address),
      token,
      timeoutMs: 5_000,
      retries: 0,
      maxConnections: 8,
      logger: silentLogger(),
    });
    clients.push(c);
    return c;
  };
  const deps = (token: string) => ({ vault: client(token), store, config, logger: silentLogger() });
  const unchecked = (d: RunbookDiagnosis) => d.findings.filter((f) => f.id === 'could-not-check');

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 2 });
    config = loadConfig({ config: lab.configFile }, {}, lab.dir);
    store = await Store.open(config.store.url);
    const root = lab.client();
    // Enough to trace a value through the audit device; nothing on the secrets, the token lookups
    // by accessor or the auth mounts.
    await root.writePolicy(
      'trace-only',
      'path "sys/audit" { capabilities = ["read", "sudo"] }\npath "sys/audit-hash/*" { capabilities = ["update"] }\n',
    );
    limited = (await root.tokenCreate({ policies: ['trace-only'], ttl: '1h' })).client_token;
    await root.writePolicy('no-audit', 'path "sys/nothing" { capabilities = ["read"] }\n');
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await store?.close();
    await lab?.stop();
  });

  it('secret-leak: a holder it may not read is a could-not-check finding, not "nothing found"', async () => {
    const root = lab.client();
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const kv = root.kv('secret');
    const current = (await kv.read<Record<string, string>>(`tenants/${TENANT}/smtp`))!.data;
    await kv.write(`tenants/${TENANT}/smtp`, { ...current, password: canary });
    expect((await kv.read<Record<string, string>>(`tenants/${TENANT}/smtp`))!.data['password']).toBe(canary);
    const valueFile = join(lab.dir, 'leaked.txt');
    writeFileSync(valueFile, canary, { mode: 0o600 });
    const options = secretLeakRunbook.options.parse({ valueFile, auditLog: lab.lab().audit_log });

    const refused = await diagnose(secretLeakRunbook, deps(limited), options);
    expect(refused.healthy).toBe(false);
    const holder = unchecked(refused).find((f) => f.evidence['path'] === SMTP_API);
    expect(holder, JSON.stringify(refused.findings)).toBeDefined();
    expect(holder!.severity).toBe('medium');
    expect(holder!.symptom).toMatch(
      new RegExp(
        `^could not check whether ${SMTP_API} still holds the leaked value: needs capability read on ${SMTP_API} \\(permission denied`,
      ),
    );
    // the reader (the root token that read it back) could not be looked up by accessor either
    expect(unchecked(refused).map((f) => f.evidence)).toContainEqual(
      expect.objectContaining({ capability: 'update', path: 'auth/token/lookup-accessor' }),
    );
    expect(refused.findings.some((f) => f.id === 'leaked-value-current')).toBe(false);
    expect(refused.findings.some((f) => f.id === 'leak-not-found')).toBe(false);

    // control: the root token can look, finds the current version holding it, nothing unchecked
    const looked = await diagnose(secretLeakRunbook, deps(lab.lab().root_token), options);
    expect(unchecked(looked)).toEqual([]);
    expect(looked.findings.find((f) => f.id === 'leaked-value-current')?.evidence['api_path']).toBe(SMTP_API);
  });

  it('auth-failures: failed logins it cannot classify (no sys/audit) make it not healthy', async () => {
    const app = lab.lab().apps.find((a) => a.role === 'mailer')!;
    const root = lab.client();
    for (let i = 0; i < 3; i++)
      await expect(
        root.write('auth/approle/login', { role_id: app.role_id, secret_id: `wrong-${i}` }, { token: null }),
      ).rejects.toThrow(/invalid role or secret ID/);
    const noAudit = (await root.tokenCreate({ policies: ['no-audit'], ttl: '1h' })).client_token;
    const options = authFailuresRunbook.options.parse({ auditLog: [lab.lab().audit_log] });

    const refused = await diagnose(authFailuresRunbook, deps(noAudit), options);
    expect(refused.healthy).toBe(false);
    const device = unchecked(refused).find((f) => f.evidence['path'] === 'sys/audit');
    expect(device, JSON.stringify(refused.findings)).toBeDefined();
    expect(device!.severity).toBe('medium');
    expect(device!.symptom).toMatch(
      /^could not check why the logins failed \(the audit device that hashes error texts\): needs capability read on sys\/audit \(permission denied/,
    );
    expect(unchecked(refused).map((f) => f.evidence['path'])).toContain('sys/auth');
    // what it used to say: the failures, unclassified, and nothing above low
    expect(refused.findings.find((f) => f.id === 'login-unclassified')?.evidence['count']).toBe(3);

    const looked = await diagnose(authFailuresRunbook, deps(lab.lab().root_token), options);
    expect(unchecked(looked)).toEqual([]);
    expect(looked.findings.find((f) => f.id === 'login-failing')?.evidence).toMatchObject({
      principal: 'mailer',
      reason: 'invalid-secret-id',
      count: 3,
    });
  });
});
