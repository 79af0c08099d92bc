import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLabFile } from '../../src/lab/lab-file.js';
import { isAlive } from '../../src/util/processes.js';
import { LAB_TEST_TENANT } from '../../src/lab/layout.js';
import type { StatusReport } from '../../src/status/status.service.js';
import type { VaultClient } from '../../src/vault/client.js';
import { PermissionDeniedError } from '../../src/vault/errors.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';

/**
 * A real 3-node OpenBao raft cluster started by `lab up`'s code: the lab file, the seeded platform
 * layout, `status` through the CLI, and failover when a node is sealed.
 */
describe('3-node lab and status', () => {
  let lab: TestLab;
  let vault: VaultClient;
  const TENANTS = 6;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: TENANTS });
    vault = lab.client();
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('writes lab.json with mode 0600, the root token, the unseal keys and every node', () => {
    const file = `${lab.dir}/lab.json`;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const labFile = readLabFile(lab.dir);
    expect(labFile.lab_only).toBe(true);
    expect(labFile.unseal_keys).toHaveLength(5);
    expect(labFile.key_threshold).toBe(3);
    expect(labFile.root_token).toMatch(/^s\./);
    expect(labFile.nodes).toHaveLength(3);
    for (const node of labFile.nodes) {
      expect(node.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(isAlive(node.pid)).toBe(true);
      expect(statSync(node.config_file).isFile()).toBe(true);
      expect(statSync(node.data_dir).isDirectory()).toBe(true);
    }
  });

  it('reports three unsealed nodes and exactly one leader', async () => {
    const result = await runCli(['status', '--json', '--config', lab.configFile]);
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<StatusReport>();
    expect(report.nodes).toHaveLength(3);
    expect(report.nodes.every((n) => n.initialized && n.sealed === false)).toBe(true);
    expect(report.nodes.filter((n) => n.is_leader)).toHaveLength(1);
    expect(report.leader_address).toBe(report.nodes.find((n) => n.is_leader)?.address);
    expect(report.nodes.every((n) => n.version === '2.7.2' && n.seal_type === 'shamir')).toBe(true);
    const peers = report.nodes[0]?.raft_peers ?? [];
    expect(peers.map((p) => p.node_id).sort()).toEqual(['node1', 'node2', 'node3']);
    expect(peers.every((p) => p.voter && p.healthy)).toBe(true);
  });

  it('seeds the platform layout: tenants, API keys, the test tenant, AppRole apps and live tokens', async () => {
    const kv = vault.kv('secret');
    const tenants = await kv.list('tenants');
    expect(tenants).toHaveLength(TENANTS + 1);
    expect(tenants).toContain(`${LAB_TEST_TENANT}/`);
    const smtp = await kv.read<{ password: string }>('tenants/tenant-0001/smtp');
    expect(smtp?.data.password.length).toBeGreaterThanOrEqual(24);
    const ssh = await kv.read<{ public_key: string; private_key: string }>('tenants/tenant-0001/ssh');
    expect(ssh?.data.public_key).toMatch(/^ssh-ed25519 /);
    expect(ssh?.data.private_key).toContain('BEGIN OPENSSH PRIVATE KEY');
    const dkim = await kv.read<{ public_key: string; domain: string }>('tenants/tenant-0002/dkim');
    expect(dkim?.data.domain).toBe('tenant-0002.mail.example');
    const keyCounts = await Promise.all(
      ['tenant-0001', 'tenant-0002', 'tenant-0003'].map(async (t) => (await kv.list(`api_keys/${t}`)).length),
    );
    expect(keyCounts).toEqual([1, 2, 3]);
    expect((await vault.list('auth/approle/role')).sort()).toEqual(['billing', 'mailer']);
    // Tokens an incident must contain: application logins, a userpass login, hand-made tokens.
    expect((await vault.tokenListAccessors()).length).toBeGreaterThanOrEqual(8);
    expect((await vault.listAuditDevices()).map((d) => d.type)).toContain('file');
  });

  it('lists tenants through the configured template source, the test tenant excluded', async () => {
    const result = await runCli(['tenants', 'list', '--json', '--config', lab.configFile]);
    expect(result.code, result.stderr).toBe(0);
    const listing = result.json<{ counted: string[]; excluded: string[] }>();
    expect(listing.counted).toHaveLength(TENANTS);
    expect(listing.excluded).toEqual([LAB_TEST_TENANT]);
  });

  it('prints shell exports for the lab', async () => {
    const result = await runCli(['lab', 'env', '--dir', lab.dir]);
    expect(result.code, result.stderr).toBe(0);
    const labFile = readLabFile(lab.dir);
    expect(result.stdout).toContain(`export BAO_ADDR='${labFile.nodes[0]!.address}'`);
    expect(result.stdout).toContain(`export VAULT_ADDR='${labFile.nodes[0]!.address}'`);
    expect(result.stdout).toContain(`export BAO_TOKEN='${labFile.root_token}'`);
    expect(result.stdout).toContain('export SEALWATCH_CONFIG=');
  });

  it('answers through the other nodes after the leader is sealed, and reports it sealed', async () => {
    const before = (await runCli(['status', '--json', '--config', lab.configFile])).json<StatusReport>();
    const leader = before.leader_address!;
    await vault.seal(leader);

    const result = await runCli(['status', '--json', '--config', lab.configFile]);
    // A sealed node makes the cluster not healthy: status says so with exit 1, and still reports.
    expect(result.code, result.stderr).toBe(1);
    const report = result.json<StatusReport>();
    expect(report.healthy).toBe(false);
    expect(report.problems).toContain(`${leader} is sealed`);
    const sealed = report.nodes.find((n) => n.address === leader);
    expect(sealed).toMatchObject({ reachable: true, sealed: true, is_leader: false, unseal_progress: '0/3' });
    expect(report.nodes.filter((n) => n.sealed === false)).toHaveLength(2);

    // A new leader is elected among the two unsealed nodes; the client fails over to it.
    const fresh = lab.client();
    await expect
      .poll(
        async () =>
          (await runCli(['status', '--json', '--config', lab.configFile])).json<StatusReport>()
            .leader_address,
        {
          timeout: 30_000,
          interval: 500,
        },
      )
      .not.toBeNull();
    const smtp = await fresh.kv('secret').read('tenants/tenant-0001/smtp');
    expect(smtp?.data).toHaveProperty('password');
    const listed = await runCli(['tenants', 'list', '--json', '--config', lab.configFile]);
    expect(listed.code, listed.stderr).toBe(0);

    // lab up on a lab with a sealed node unseals it with the saved keys.
    const up = await runCli(['lab', 'up', '--dir', lab.dir, '--json']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.json<{ restarted: boolean }>().restarted).toBe(true);
    const after = (await runCli(['status', '--json', '--config', lab.configFile])).json<StatusReport>();
    expect(after.nodes.every((n) => n.sealed === false)).toBe(true);
  });

  it('refuses a wrong token with a one-line error naming the node and path, without the token', async () => {
    const bad = 's.this-token-does-not-exist-0000';
    const result = await runCli(['tenants', 'list', '--config', lab.configFile, '--token', bad]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /permission denied .* http:\/\/127\.0\.0\.1:\d+ GET sys\/internal\/ui\/mounts\/secret\/tenants/,
    );
    expect(result.stderr).not.toContain(bad);
    const client = lab.client();
    client.setToken(bad);
    await expect(client.tokenLookupSelf()).rejects.toBeInstanceOf(PermissionDeniedError);
  });
});
