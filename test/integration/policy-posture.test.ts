import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPostureAccess } from '../../src/cli/commands/posture-access.js';
import type { Output } from '../../src/cli/output.js';
import { createRunner } from '../../src/cli/runner.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { AccessMatrix } from '../../src/policy/access-matrix.js';
import type { PostureContext, PostureFinding } from '../../src/posture/check.js';
import { policyAdminWriteCheck } from '../../src/posture/checks/policy-admin-write.check.js';
import { policyCrossTenantCheck } from '../../src/posture/checks/policy-cross-tenant.check.js';
import { policyGlobsCheck } from '../../src/posture/checks/policy-globs.check.js';
import { policySudoCheck } from '../../src/posture/checks/policy-sudo.check.js';
import { policyTokenCreateCheck } from '../../src/posture/checks/policy-token-create.check.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';

const T1 = 'tenant-0001';
const T2 = 'tenant-0002';
const T3 = 'tenant-0003';

/** Policies written to be wrong on purpose, beside the lab's own (mailer, billing, operator). */
const POLICIES: Record<string, string> = {
  // Tenant 1's application, which can also read tenant 2's SMTP credentials: cross-tenant.
  [`${T1}-app`]: `
path "secret/data/tenants/${T1}/*" { capabilities = ["read", "update"] }
path "secret/data/tenants/${T2}/smtp" { capabilities = ["read"] }
`,
  // Tenant 3's application, limited to its own secrets (the deny takes its database away).
  [`${T3}-app`]: `
path "secret/data/tenants/${T3}/*" { capabilities = ["read"] }
path "secret/data/tenants/${T3}/database" { capabilities = ["deny"] }
`,
  ops: `
path "sys/*" { capabilities = ["read", "list", "sudo"] }
path "sys/policies/acl/+" { capabilities = ["update"] }
path "auth/token/create" { capabilities = ["update"] }
`,
  'limited-minter': `
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = {
    "policies" = ["${T3}-app"]
    "ttl" = []
  }
}
`,
  'break-glass': `path "sys/*" { capabilities = ["create", "update", "sudo"] }`,
  // Valid for OpenBao's HCL 1 parser, refused by HCL 2 (quoted names in a block body): named with its position.
  'legacy-block': `path "secret/data/x" {
  capabilities = ["update"]
  allowed_parameters {
    "x" = []
  }
}
`,
};

function captureOutput(): Output & { stdout: string } {
  const out = {
    stdout: '',
    json: (value: unknown) => (out.stdout += `${JSON.stringify(value)}\n`),
    line: (text = '') => (out.stdout += `${text}\n`),
    table: (rows: readonly object[]) => (out.stdout += `${JSON.stringify(rows)}\n`),
    progress: () => undefined,
    error: () => undefined,
  };
  return out;
}

describe('policy posture against a real OpenBao lab', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let store: Store;
  let config: Config;
  let configFile: string;
  let ctx: PostureContext;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 3 });
    vault = lab.client();
    for (const [name, text] of Object.entries(POLICIES)) await vault.writePolicy(name, text);
    for (const [role, policies] of [
      [`${T1}-app`, [`${T1}-app`]],
      [`${T3}-app`, [`${T3}-app`]],
    ] as const)
      await vault.write(`auth/approle/role/${role}`, { token_policies: policies });
    await vault.write('auth/token/roles/ops-role', { allowed_policies: ['ops'] });
    configFile = join(lab.dir, 'policy-posture.yaml');
    writeFileSync(
      configFile,
      `${readFileSync(lab.configFile, 'utf8')}\nposture:\n  tenant_role_template: "{tenant}-app"\n  break_glass_policies: [break-glass]\n`,
    );
    config = loadConfig({ config: configFile });
    store = await Store.open(join(lab.dir, 'posture.db'));
    ctx = {
      vault,
      store,
      config,
      logger: silentLogger(),
      since: new Date(Date.now() - 86_400_000),
      now: new Date(),
    };
  }, 180_000);

  afterAll(async () => {
    await store?.close();
    await lab?.stop();
  });

  async function postureAccess(...args: string[]): Promise<string> {
    const out = captureOutput();
    // posture.command.ts is another helper's: a stand-in `posture` parent carrying the global options.
    const program = new Command('sealwatch')
      .option('--config <file>')
      .option('--addr <urls>')
      .option('--token <t>')
      .option('--json');
    addPostureAccess(program.command('posture'), createRunner(out));
    const node = lab.lab().nodes[0]!;
    await program.parseAsync(
      [
        '--config',
        configFile,
        '--addr',
        node.address,
        '--token',
        lab.lab().root_token,
        'posture',
        'access',
        ...args,
      ],
      { from: 'user' },
    );
    return out.stdout;
  }

  it('posture access --json: the matrix agrees with sys/capabilities for every policy and tenant', async () => {
    const matrix = JSON.parse(await postureAccess('--json')) as AccessMatrix;
    const app1 = matrix.policies.find((p) => p.policy === `${T1}-app`)!;
    expect(app1).toEqual({
      policy: `${T1}-app`,
      roles: [{ mount: 'approle', role: `${T1}-app`, tenant: T1 }],
      tenants: { read: [T1, T2], write: [T1] },
      cross_tenant: true,
      templated_rules: [],
    });
    expect(matrix.by_tenant[T2]!.readers.map((r) => r.policy)).toEqual(
      ['billing', 'mailer', 'operator', `${T1}-app`].sort(),
    );
    expect(matrix.policies.find((p) => p.policy === 'ops')!.roles).toEqual([
      { mount: 'token', role: 'ops-role' },
    ]);
    expect(matrix.could_not_read).toEqual([
      expect.objectContaining({
        what: 'policy legacy-block',
        reason: expect.stringMatching(/^policy "legacy-block" does not parse at line 4, column 5: /),
      }),
    ]);

    // Independently: a token per policy, the server's answer on every tenant secret path of the lab.
    let pairs = 0;
    const disagreements: string[] = [];
    // The lab's tenant paths, API keys by their real ids (listed, not the matrix's placeholder).
    const tenantSecretPaths = async (t: string) => [
      ...['profile', 'ssh', 'smtp', 'dkim', 'database'].map((k) => `secret/data/tenants/${t}/${k}`),
      ...(await vault.list(`secret/metadata/api_keys/${t}`)).map((k) => `secret/data/api_keys/${t}/${k}`),
    ];
    for (const entry of matrix.policies) {
      const token = (
        await vault.tokenCreate({ policies: [entry.policy], no_default_policy: true, ttl: '5m' })
      ).client_token;
      for (const tenant of Object.keys(matrix.by_tenant)) {
        const paths = await tenantSecretPaths(tenant);
        const answer = (await vault.write<Record<string, string[]>>('sys/capabilities', { token, paths }))!
          .data;
        const serverReads = paths.some((p) => answer[p]!.includes('read') || answer[p]!.includes('root'));
        const serverWrites = paths.some((p) =>
          ['create', 'update', 'patch'].some((c) => answer[p]!.includes(c)),
        );
        pairs++;
        if (serverReads !== entry.tenants.read.includes(tenant))
          disagreements.push(`${entry.policy} read ${tenant}`);
        if (serverWrites !== entry.tenants.write.includes(tenant))
          disagreements.push(`${entry.policy} write ${tenant}`);
      }
    }
    process.stderr.write(
      `access matrix: ${pairs} (policy, tenant) pairs checked against sys/capabilities, ${disagreements.length} disagreements\n`,
    );
    expect(disagreements).toEqual([]);
    expect(pairs).toBeGreaterThan(20);
  }, 120_000);

  it('posture access --tenant narrows the rows to that tenant', async () => {
    const matrix = JSON.parse(await postureAccess('--tenant', T3, '--json')) as AccessMatrix;
    expect(Object.keys(matrix.by_tenant)).toEqual([T3]);
    expect(matrix.by_tenant[T3]!.readers.map((r) => r.policy)).toContain(`${T3}-app`);
    expect(matrix.by_tenant[T3]!.readers.map((r) => r.policy)).not.toContain(`${T1}-app`);
    const table = await postureAccess('--tenant', T3);
    expect(table).toContain(`${T3}-app`);
    expect(table).toContain('could not read policy legacy-block');
  });

  it('the policy checks find what was planted, and only that', async () => {
    const run = async (check: { run(c: PostureContext): Promise<PostureFinding[]> }) => check.run(ctx);
    const cross = await run(policyCrossTenantCheck);
    expect(cross.filter((f) => f.severity === 'high')).toEqual([
      expect.objectContaining({
        id: `policy-cross-tenant:${T1}-app:approle/${T1}-app`,
        evidence: expect.objectContaining({ role_tenant: T1, read: [T2], write: [] }),
      }),
    ]);
    // The lab's mailer reaches every tenant but no tenant role carries it: low, to confirm.
    expect(cross.find((f) => f.id === 'policy-cross-tenant:mailer')?.severity).toBe('low');
    // The unparseable policy is a could-not-read finding in every policy check, never silence.
    expect(cross.some((f) => f.title.startsWith('could not read policy legacy-block'))).toBe(true);

    const sudo = await run(policySudoCheck);
    expect(sudo.filter((f) => !f.title.startsWith('could not read')).map((f) => f.id)).toEqual([
      'policy-sudo:ops',
    ]);

    const admin = (await run(policyAdminWriteCheck)).filter((f) => !f.title.startsWith('could not read'));
    // ops writes policies; break-glass (configured) may; operator only reads them.
    expect(admin.map((f) => f.id)).toEqual(['policy-admin-write:ops:sys/policies/*']);

    const minting = (await run(policyTokenCreateCheck)).filter((f) => !f.title.startsWith('could not read'));
    expect(minting.map((f) => f.id)).toEqual(['policy-token-create:ops:auth/token/create']);

    const globs = (await run(policyGlobsCheck)).filter((f) => !f.title.startsWith('could not read'));
    const ids = globs.map((f) => f.id);
    expect(ids).toContain('policy-globs:ops:sys:sys/*');
    expect(ids).toContain('policy-globs:operator:tenants:secret/*');
    expect(ids).toContain('policy-globs:mailer:tenants:secret/data/tenants/+/smtp');
    expect(ids).not.toContain(`policy-globs:${T3}-app:tenants:secret/data/tenants/${T3}/*`);
    // The built-in default policy's sys/tools/hash/* only hashes: no alarm on every server.
    expect(ids).not.toContain('policy-globs:default:sys:sys/tools/hash/*');
    expect(globs.find((f) => f.id === 'policy-globs:operator:tenants:secret/*')?.severity).toBe('high');
  }, 60_000);
});
