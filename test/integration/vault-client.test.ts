import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { waitFor } from '../../src/util/wait.js';
import { decodeRootToken } from '../../src/vault/server-info.js';
import { VaultClient } from '../../src/vault/client.js';
import { NotFoundError, PermissionDeniedError } from '../../src/vault/errors.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';

/**
 * The typed client against a real OpenBao 2.7 node: the operations later capabilities stand on,
 * checked by their effect on the server (old shares refused, term up, token revoked).
 */
describe('VaultClient against real OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  /** The shares the rekey test made; the root-token test uses them. */
  let newShares: string[] = [];

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 2 });
    vault = lab.client();
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('detects OpenBao and its version, and picks the authenticated rotation endpoints', async () => {
    const info = await vault.serverInfo();
    expect(info).toMatchObject({ flavor: 'openbao', major: 2, minor: 7 });
    const endpoints = await vault.endpoints();
    expect(endpoints.authenticatedRekey).toBe(true);
    expect(endpoints.authenticatedGenerateRoot).toBe(true);
    expect(endpoints.rekey('unseal').status.path).toBe('sys/rotate/root/init');
    expect(endpoints.generateRoot.status.path).toBe('sys/generate-root-token/attempt');
  });

  it('reads, writes, lists, versions, deletes and destroys KV v2 secrets', async () => {
    const kv = vault.kv('secret');
    const first = await kv.write('client-test/a', { v: 'one' }, { cas: 0 });
    expect(first.version).toBe(1);
    await expect(kv.write('client-test/a', { v: 'again' }, { cas: 0 })).rejects.toThrow(/check-and-set/);
    await kv.write('client-test/a', { v: 'two' }, { cas: 1 });
    expect((await kv.read<{ v: string }>('client-test/a'))?.data.v).toBe('two');
    expect((await kv.read<{ v: string }>('client-test/a', 1))?.data.v).toBe('one');
    await kv.writeMetadata('client-test/a', { custom_metadata: { state: 'pending' } });
    const meta = await kv.readMetadata('client-test/a');
    expect(meta?.current_version).toBe(2);
    expect(meta?.custom_metadata).toEqual({ state: 'pending' });
    expect(await kv.list('client-test')).toEqual(['a']);
    await kv.destroy('client-test/a', [1]);
    expect(await kv.read('client-test/a', 1)).toBeUndefined();
    await kv.deleteAll('client-test/a');
    expect(await kv.exists('client-test/a')).toBe(false);
    expect(await kv.list('client-test')).toEqual([]);
    await expect(vault.read('secret/data/client-test/none')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('hashes a value through the audit device as the audit log does', async () => {
    const [device] = await vault.listAuditDevices();
    expect(device?.path).toBe('file/');
    const hash = await vault.auditHash(device!.path, 'planted-value');
    expect(hash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(await vault.auditHash(device!.path, 'planted-value')).toBe(hash);
  });

  it('creates, looks up and revokes tokens, and revokes every lease under an auth prefix', async () => {
    const token = await vault.tokenCreate({ policies: ['default'], ttl: '1h', display_name: 'client-test' });
    expect((await vault.tokenLookupSelf(token.client_token)).display_name).toBe('token-client-test');
    expect(await vault.tokenListAccessors()).toContain(token.accessor);
    await vault.tokenRevokeAccessor(token.accessor);
    await expect(vault.tokenLookupSelf(token.client_token)).rejects.toBeInstanceOf(PermissionDeniedError);

    const [app] = lab.lab().apps;
    const login = await vault.write(
      'auth/approle/login',
      { role_id: app!.role_id, secret_id: app!.secret_id },
      { token: null },
    );
    const appToken = login!.auth!.client_token;
    expect((await vault.tokenLookupSelf(appToken)).policies).toContain(app!.policies[0]);
    await vault.leaseRevokePrefix('auth/approle/');
    await expect(vault.tokenLookupSelf(appToken)).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('takes a raft snapshot and reads Prometheus metrics', async () => {
    const stream = await vault.snapshot();
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    expect(bytes).toBeGreaterThan(1_000);
    const metrics = await vault.metricsPrometheus();
    expect(metrics).toMatch(/^# (HELP|TYPE) /m);
    expect(metrics).toContain('vault_core_unsealed');
  });

  it('rotates the barrier key: the keyring term goes up by one', async () => {
    const before = await vault.keyStatus();
    await vault.rotateKeyring();
    expect((await vault.keyStatus()).term).toBe(before.term + 1);
  });

  it('rekeys through sys/rotate/root: the old shares stop unsealing and the new ones unseal', async () => {
    const current = lab.lab();
    const started = await vault.rekeyInit({ secret_shares: 5, secret_threshold: 3 });
    expect(started.started).toBe(true);
    let result;
    for (const key of current.unseal_keys.slice(0, 3)) result = await vault.rekeyUpdate(key, started.nonce);
    expect(result?.complete).toBe(true);
    if (!result?.keys) throw new Error('the rekey completed without new keys');
    const newKeys = result.keys;
    newShares = newKeys;
    expect(newKeys).toHaveLength(5);
    expect(newKeys.some((k) => current.unseal_keys.includes(k))).toBe(false);

    const node = current.nodes[0]!.address;
    await vault.seal(node);
    let status = await vault.unseal(node, current.unseal_keys[0]!);
    for (const key of current.unseal_keys.slice(1, 3)) {
      try {
        status = await vault.unseal(node, key);
      } catch {
        // a wrong share is refused outright by some versions
      }
    }
    expect((await vault.sealStatus(node)).sealed).toBe(true);
    await vault.unsealReset(node);
    for (const key of newKeys.slice(2, 5)) status = await vault.unseal(node, key);
    expect(status.sealed).toBe(false);
    await waitFor(
      'the node to become active again',
      async () => (await vault.health(node)).httpStatus === 200,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
  });

  it('generates a new root token through sys/generate-root-token with the new shares', async () => {
    expect(newShares).toHaveLength(5);
    const attempt = await vault.generateRootInit();
    expect(attempt.started).toBe(true);
    let status = attempt;
    for (const key of newShares.slice(0, 3)) status = await vault.generateRootUpdate(key, attempt.nonce);
    expect(status.complete).toBe(true);
    const root = decodeRootToken((status.encoded_token ?? status.encoded_root_token)!, attempt.otp!);
    expect(root).not.toBe(lab.lab().root_token);
    const probe = new VaultClient({
      addresses: lab.lab().nodes.map((n) => n.address),
      token: root,
      timeoutMs: 5_000,
      retries: 0,
      maxConnections: 2,
      logger: silentLogger(),
    });
    try {
      expect((await probe.tokenLookupSelf()).policies).toEqual(['root']);
      await probe.tokenRevokeSelf();
      await expect(probe.tokenLookupSelf()).rejects.toBeInstanceOf(PermissionDeniedError);
    } finally {
      await probe.close();
    }
  });
});
