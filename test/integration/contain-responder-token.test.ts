import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import type { StepContext } from '../../src/playbook/step.js';
import { ContainmentError } from '../../src/respond/lockdown.js';
import { createContainStep } from '../../src/respond/steps/contain.step.js';
import type { VaultClient } from '../../src/vault/client.js';
import { decodeRootToken } from '../../src/vault/server-info.js';
import { startPlainServer, type PlainServer } from '../harness/bao-server.js';

const context = (incidentId: string): StepContext =>
  ({
    incidentId,
    logger: silentLogger(),
    signal: new AbortController().signal,
    outputs: {},
    options: {},
    progress: () => undefined,
    sensitive: () => undefined,
  }) satisfies StepContext;

/** A token made by a write that answers `auth` (token create, login). */
async function tokenOf(vault: VaultClient, path: string, body: Record<string, unknown>): Promise<string> {
  const token = (await vault.write(path, body))?.auth?.client_token;
  if (!token) throw new Error(`${path} answered no token`);
  return token;
}

async function approleCredentials(root: VaultClient, role: string, policy: string) {
  await root.write(`auth/approle/role/${role}`, { token_policies: [policy] });
  const roleId = (await root.read<{ role_id: string }>(`auth/approle/role/${role}/role-id`)).data.role_id;
  const secretId = (await root.write<{ secret_id: string }>(`auth/approle/role/${role}/secret-id`, {}))?.data
    ?.secret_id;
  if (!secretId) throw new Error(`no secret ID for ${role}`);
  return { role_id: roleId, secret_id: secretId };
}

/**
 * Everything, with sudo. On OpenBao 2.7.2 the glob "*" does not grant LIST sys/leases/lookup/ (the
 * top of the lease tree): that path is named on its own.
 */
const SUDO_POLICY = `
path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/leases/lookup" { capabilities = ["list", "sudo"] }
`;

/** Each kind of token a responder may hold, made on a server with its initial root token. */
const responderKinds: Record<string, (server: PlainServer, root: VaultClient) => Promise<string>> = {
  'the initial root token': async (server) => server.rootToken,
  'an orphan root-policy token from auth/token/create': (_, root) =>
    tokenOf(root, 'auth/token/create', { policies: ['root'], no_parent: true }),
  'a root token from generate-root': async (server, root) => {
    const attempt = await root.generateRootInit();
    const done = await root.generateRootUpdate(server.unsealKeys[0]!, attempt.nonce);
    return decodeRootToken((done.encoded_token ?? done.encoded_root_token)!, attempt.otp!);
  },
  'a leased orphan token with a sudo policy': async (_, root) => {
    await root.writePolicy('responder', SUDO_POLICY);
    return tokenOf(root, 'auth/token/create-orphan', { policies: ['responder'], ttl: '2h' });
  },
  'an AppRole login token': async (_, root) => {
    await root.writePolicy('responder', SUDO_POLICY);
    return tokenOf(root, 'auth/approle/login', await approleCredentials(root, 'responder', 'responder'));
  },
};

async function works(vault: VaultClient, token: string): Promise<boolean> {
  return vault.tokenLookupSelf(token).then(
    () => true,
    () => false,
  );
}

/** Tokens of every kind lockdown must revoke: TTL-less, leased, orphan, child, and an AppRole login. */
async function otherTokens(root: VaultClient): Promise<Record<string, string>> {
  const token = (path: string, body: Record<string, unknown>) => tokenOf(root, path, body);
  return {
    'orphan root-policy': await token('auth/token/create', { policies: ['root'], no_parent: true }),
    'leased child': await token('auth/token/create', { policies: ['default'], ttl: '1h' }),
    'leased orphan': await token('auth/token/create-orphan', { policies: ['default'], ttl: '1h' }),
    'approle login': await token('auth/approle/login', await approleCredentials(root, 'app', 'default')),
  };
}

describe('lockdown keeps the responder token alive, whatever kind, on a server the lab did not make', () => {
  let server: PlainServer;
  let storeDir: string;

  beforeEach(async () => {
    server = await startPlainServer({ shares: 1 });
    await server.client(server.rootToken).enableAuth('approle', { type: 'approle' });
    storeDir = mkdtempSync(join(tmpdir(), 'sealwatch-store-'));
  });
  afterEach(async () => {
    await server?.stop();
    rmSync(storeDir, { recursive: true, force: true });
  });

  for (const [kind, make] of Object.entries(responderKinds))
    it(`completes containment with ${kind}, which works afterwards`, async () => {
      const root = server.client(server.rootToken);
      const token = await make(server, root);
      const others = await otherTokens(root);
      if (token !== server.rootToken) others['initial root'] = server.rootToken;
      const vault = server.client(token);
      const own = await vault.tokenLookupSelf();
      const contain = createContainStep({ vault, storeDir });

      const plan = await contain.plan(context('inc-plan'));
      const mount = own.path.startsWith('auth/approle/') ? 'auth/approle/' : 'auth/token/';
      expect(plan[0]!.action).toMatch(/^keep the responder's token .* alive: /);
      expect(plan[0]!.details).toMatchObject({ mount, path: own.path });

      const outcome = await contain.run(context('inc-run'));
      expect(await works(vault, token)).toBe(true);
      for (const [name, other] of Object.entries(others))
        expect(await works(vault, other), `${name} still works`).toBe(false);
      expect(await vault.tokenListAccessors()).toEqual([own.accessor]);
      expect(outcome.evidence['lockdown']).toMatchObject({ per_token_mounts: [mount] });
      expect(outcome.evidence['lockdown']).not.toMatchObject({
        revoked_prefixes: expect.arrayContaining([mount]) as unknown,
      });
      const verified = await contain.verify!(context('inc-run'), outcome);
      expect(verified.evidence).toMatchObject({ responder_token_works: true, other_live_tokens: 0 });
      expect(verified.ok).toBe(true);
    });

  it('refuses a child token in the plan, before anything changes', async () => {
    const root = server.client(server.rootToken);
    const child = await tokenOf(root, 'auth/token/create', { policies: ['root'] });
    const before = (await root.tokenListAccessors()).length;
    const contain = createContainStep({ vault: server.client(child), storeDir });
    const refusal = { constructor: ContainmentError, code: 'responder_token_not_orphan' };
    await expect(contain.plan(context('inc-child'))).rejects.toMatchObject(refusal);
    await expect(contain.run(context('inc-child'))).rejects.toMatchObject(refusal);
    expect((await root.tokenListAccessors()).length).toBe(before);
    expect(await works(root, child)).toBe(true);
  });
});
