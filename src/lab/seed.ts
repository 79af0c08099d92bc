import pLimit from 'p-limit';
import type { Logger } from '../logging/logger.js';
import {
  generateDkimKey,
  generateSshKeyPair,
  randomApiKey,
  randomPassword,
  type DkimKey,
} from '../secrets/generators.js';
import { BadRequestError } from '../vault/errors.js';
import type { VaultClient } from '../vault/client.js';
import type { LabApp } from './lab-file.js';
import { LAB_KV_MOUNT, LAB_TEST_TENANT, labTenantDomain, labTenantId } from './layout.js';

export interface SeedOptions {
  tenants: number;
  logger: Logger;
  onProgress?: (message: string) => void;
  concurrency?: number;
}

export interface SeedResult {
  tenants: string[];
  apps: LabApp[];
  liveTokens: number;
}

const POLICIES: Record<string, string> = {
  // The mail relay reads SMTP and DKIM material of every tenant.
  mailer: `
path "secret/data/tenants/+/smtp" { capabilities = ["read"] }
path "secret/data/tenants/+/dkim" { capabilities = ["read"] }
path "secret/metadata/tenants/*" { capabilities = ["list"] }
`,
  // Billing checks API keys.
  billing: `
path "secret/data/api_keys/*" { capabilities = ["read"] }
path "secret/metadata/api_keys/*" { capabilities = ["list"] }
`,
  // Human operators.
  operator: `
path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/mounts" { capabilities = ["read"] }
path "sys/auth" { capabilities = ["read"] }
path "sys/policies/acl/*" { capabilities = ["read", "list"] }
`,
};

const APPS = [
  { role: 'mailer', policies: ['mailer'] },
  { role: 'billing', policies: ['billing'] },
] as const;

/** DKIM keys are RSA-2048 and slow to make; the lab shares a small pool among tenants to start fast. */
const DKIM_POOL_SIZE = 8;

/**
 * Seeds a fresh lab the way the reference platform keeps its secrets: KV v2 at secret/, AppRole and
 * userpass auth, policies, N tenants with SSH, SMTP, DKIM, database and API-key secrets, a test
 * tenant, two applications with AppRole roles, and a few live tokens for incidents to contain.
 */
export async function seedLab(vault: VaultClient, options: SeedOptions): Promise<SeedResult> {
  const progress = options.onProgress ?? (() => undefined);
  await ignoreExisting(() => vault.enableMount(LAB_KV_MOUNT, { type: 'kv', options: { version: '2' } }));
  await ignoreExisting(() => vault.enableAuth('approle', { type: 'approle' }));
  await ignoreExisting(() => vault.enableAuth('userpass', { type: 'userpass' }));
  for (const [name, policy] of Object.entries(POLICIES)) await vault.writePolicy(name, policy);

  const apps: LabApp[] = [];
  for (const app of APPS) {
    await vault.write(`auth/approle/role/${app.role}`, {
      token_policies: app.policies,
      token_ttl: '1h',
      token_max_ttl: '4h',
      secret_id_ttl: '24h',
    });
    const roleId = (await vault.read<{ role_id: string }>(`auth/approle/role/${app.role}/role-id`)).data
      .role_id;
    const secretId = (await vault.write<{ secret_id: string }>(`auth/approle/role/${app.role}/secret-id`))!
      .data.secret_id;
    apps.push({ role: app.role, role_id: roleId, secret_id: secretId, policies: [...app.policies] });
  }

  const dkimPool: DkimKey[] = await Promise.all(
    Array.from({ length: Math.min(DKIM_POOL_SIZE, options.tenants + 1) }, () => generateDkimKey('lab2024')),
  );
  const ids = [...Array.from({ length: options.tenants }, (_, i) => labTenantId(i)), LAB_TEST_TENANT];
  const limit = pLimit(options.concurrency ?? 16);
  let done = 0;
  await Promise.all(
    ids.map((tenant, index) =>
      limit(async () => {
        await seedTenant(vault, tenant, dkimPool[index % dkimPool.length]!, index);
        done++;
        if (done % 50 === 0 || done === ids.length) progress(`seeded ${done}/${ids.length} tenants`);
      }),
    ),
  );

  const liveTokens = await createLiveTokens(vault, apps);
  options.logger.info({ tenants: ids.length, liveTokens }, 'lab seeded');
  return { tenants: ids, apps, liveTokens };
}

async function seedTenant(vault: VaultClient, tenant: string, dkim: DkimKey, index: number): Promise<void> {
  const kv = vault.kv(LAB_KV_MOUNT);
  const domain = labTenantDomain(tenant);
  const ssh = generateSshKeyPair(`${tenant}@sealwatch-lab`);
  await Promise.all([
    kv.write(`tenants/${tenant}/profile`, {
      name: tenant,
      domain,
      contact_email: `security@${domain}`,
    }),
    kv.write(`tenants/${tenant}/ssh`, {
      username: tenant.replace(/[^a-z0-9]/g, ''),
      private_key: ssh.privateKey,
      public_key: ssh.publicKey,
    }),
    kv.write(`tenants/${tenant}/smtp`, {
      host: 'smtp.mail.example',
      port: '587',
      username: `${tenant}@smtp.mail.example`,
      password: randomPassword(32),
    }),
    kv.write(`tenants/${tenant}/dkim`, {
      domain,
      selector: dkim.selector,
      private_key: dkim.privateKey,
      public_key: dkim.publicKey,
    }),
    kv.write(`tenants/${tenant}/database`, {
      host: '127.0.0.1',
      port: '5432',
      database: 'mail',
      username: `app_${tenant.replace(/[^a-z0-9]/g, '_')}`,
      password: randomPassword(32),
    }),
  ]);
  const apiKeys = 1 + (index % 3);
  for (let k = 0; k < apiKeys; k++) {
    await kv.write(`api_keys/${tenant}/key-${k + 1}`, {
      key: randomApiKey(),
      created_at: new Date().toISOString(),
      scopes: 'send',
    });
  }
}

/** Application logins and a few hand-made tokens: what a containment step must revoke. */
async function createLiveTokens(vault: VaultClient, apps: LabApp[]): Promise<number> {
  let count = 0;
  for (const app of apps) {
    for (let i = 0; i < 2; i++) {
      await vault.write(
        'auth/approle/login',
        { role_id: app.role_id, secret_id: app.secret_id },
        { token: null },
      );
      count++;
    }
  }
  const password = randomPassword(24);
  await vault.write('auth/userpass/users/alice', { password, token_policies: 'operator' });
  await vault.write('auth/userpass/login/alice', { password }, { token: null });
  count++;
  for (const name of ['ci-deploy', 'backup-job', 'support-console']) {
    await vault.tokenCreate({ policies: ['operator'], ttl: '24h', display_name: name });
    count++;
  }
  return count;
}

async function ignoreExisting(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (
      error instanceof BadRequestError &&
      error.serverErrors.some((e) => /already in use|existing mount/i.test(e))
    )
      return;
    throw error;
  }
}
