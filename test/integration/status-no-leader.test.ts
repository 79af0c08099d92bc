import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabNode } from '../../src/lab/lab-file.js';
import type { StatusReport } from '../../src/status/status.service.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { activeNode, killNode, restartNode, until } from '../harness/raft-faults.js';

/**
 * `status` is the first command run in an outage: with the leader SIGKILLed, and with no node
 * active at all, it still prints every node's own answer, says there is no leader and why the raft
 * configuration could not be read, and exits 1.
 */
describe('status on a three-node raft cluster that lost its leader', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let killed: LabNode[] = [];
  const status = (...args: string[]) => runCli(['status', ...args, '--config', lab.configFile]);

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 1 });
    vault = lab.client();
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('is healthy (exit 0) with its leader', async () => {
    const result = await status('--json');
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<StatusReport>();
    expect(report).toMatchObject({ healthy: true, problems: [], leader: { error: null } });
    expect(report.raft_configuration).toMatchObject({ from: report.leader_address, error: null });
  });

  it('just after the leader is SIGKILLed: the node table, and the leader and raft as they are', async () => {
    const leader = await activeNode(lab, vault);
    await killNode(leader);
    killed = [leader];

    const result = await status('--json');
    expect(result.code, result.stderr).toBe(1);
    const report = result.json<StatusReport>();
    expect(report.healthy).toBe(false);
    expect(report.nodes.map((n) => n.address)).toEqual(lab.lab().nodes.map((n) => n.address));
    expect(report.nodes.find((n) => n.address === leader.address)).toMatchObject({ reachable: false });
    expect(report.problems).toContain(
      `${leader.address} does not answer: ${report.nodes.find((n) => n.address === leader.address)!.error}`,
    );
    const standbys = report.nodes.filter((n) => n.address !== leader.address);
    expect(standbys.every((n) => n.reachable && n.sealed === false)).toBe(true);
    // Within a second either no node is active yet, or a new leader answers; the raft part is read
    // from a node that could answer, or says why not. The election may finish between the two reads.
    if (report.leader.address === null) expect(report.leader.error).toMatch(/^no node is active: /);
    else expect(standbys.map((n) => n.address)).toContain(report.leader.address);
    if (report.raft_configuration.from === null)
      expect(report.raft_configuration.error).toMatch(/^could not read sys\/storage\/raft\/configuration: /);
    else {
      expect(report.raft_configuration.error).toBeNull();
      expect(standbys.map((n) => n.address)).toContain(report.raft_configuration.from);
    }
  });

  it('while no node is active for want of a quorum: the node table, no leader, raft from the survivor', async () => {
    // Two of three voters gone: the survivor has no quorum, so no node becomes active.
    const alive = () => lab.lab().nodes.filter((n) => !killed.some((k) => k.address === n.address));
    const standby = alive()[0]!;
    await killNode(standby);
    killed.push(standby);
    const survivor = alive()[0]!;

    // A leader that lost its quorum steps down after its lease runs out.
    await until('the survivor to stop being active', async () =>
      (await vault.health(survivor.address)).standby ? true : undefined,
    );
    const json = await status('--json');
    expect(json.code, json.stderr).toBe(1);
    const report = json.json<StatusReport>();
    expect(report.nodes).toHaveLength(3);
    expect(report.nodes.find((n) => n.address === survivor.address)).toMatchObject({
      reachable: true,
      initialized: true,
      sealed: false,
      is_leader: false,
    });
    for (const gone of killed)
      expect(report.nodes.find((n) => n.address === gone.address)).toMatchObject({ reachable: false });
    expect(report.leader_address).toBeNull();
    expect(report.leader.error).toBe(
      'no node is active: 1 of 3 answer unsealed, all standby (leader election under way, or no quorum)',
    );
    // Without a quorum the survivor still answers the raft configuration from its own state.
    expect(report.raft_configuration).toEqual({ from: survivor.address, error: null });

    const text = await status();
    expect(text.code).toBe(1);
    const lines = text.stdout.split('\n');
    for (const node of lab.lab().nodes) expect(text.stdout).toContain(node.address);
    expect(lines).toContain(`leader: none: ${report.leader.error}`);
    expect(text.stdout).toMatch(new RegExp(`raft peers \\(from ${survivor.address.replace(/\./g, '\\.')};`));
    expect(lines).toContain('not healthy:');
  });
});

/**
 * The outage DESIGN.md describes: standbys whose audit stanza differs from the replicated audit
 * table refuse to become active, so with the leader SIGKILLed a quorum is up and unsealed and no
 * node is active; a raft read is answered 500 "local node not active but active cluster node not
 * found".
 */
describe('status while a quorum answers unsealed but no node becomes active', () => {
  let lab: TestLab;
  let vault: VaultClient;
  const status = (...args: string[]) => runCli(['status', ...args, '--config', lab.configFile]);

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 1 });
    vault = lab.client();
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('prints the node table, says there is no leader and why the raft configuration could not be read', async () => {
    const leader = await activeNode(lab, vault);
    const standbys = lab.lab().nodes.filter((n) => n.node_id !== leader.node_id);
    for (const node of standbys) {
      const config = readFileSync(node.config_file, 'utf8');
      const changed = config.replace(
        /file_path = "([^"]+)"/,
        (_, path: string) => `file_path = "${path}.moved"`,
      );
      expect(changed).not.toBe(config);
      writeFileSync(node.config_file, changed);
      await killNode(node);
      const restarted = await restartNode(lab, node.node_id);
      for (const key of lab.lab().unseal_keys.slice(0, lab.lab().key_threshold))
        await vault.unseal(restarted.address, key);
      await until(`${node.node_id} to be a standby again`, async () =>
        (await vault.health(restarted.address)).standby ? true : undefined,
      );
    }
    await killNode(leader);
    const survivors = lab.lab().nodes.filter((n) => n.node_id !== leader.node_id);
    await until(
      'the survivors to answer that no node is active',
      async () => {
        const probe = await vault.raftConfiguration(survivors[0]!.address).then(
          () => undefined,
          (error: Error) => /active cluster node not found/.test(error.message),
        );
        return probe;
      },
      60_000,
    );

    const json = await status('--json');
    expect(json.code, json.stderr).toBe(1);
    const report = json.json<StatusReport>();
    expect(report.nodes.map((n) => n.address)).toEqual(lab.lab().nodes.map((n) => n.address));
    for (const node of survivors)
      expect(report.nodes.find((n) => n.address === node.address)).toMatchObject({
        reachable: true,
        sealed: false,
        standby: true,
        is_leader: false,
      });
    expect(report.leader).toEqual({
      address: null,
      error:
        'no node is active: 2 of 3 answer unsealed, all standby (leader election under way, or no quorum)',
    });
    expect(report.raft_configuration.from).toBeNull();
    expect(report.raft_configuration.error).toMatch(
      /^could not read sys\/storage\/raft\/configuration: http:\S+: no active node to forward the read to \(leader election under way\?\); http:\S+: no active node/,
    );

    const text = await status();
    expect(text.code).toBe(1);
    const lines = text.stdout.split('\n');
    for (const node of lab.lab().nodes) expect(text.stdout).toContain(node.address);
    expect(lines).toContain(`leader: none: ${report.leader.error}`);
    expect(lines).toContain(`raft: ${report.raft_configuration.error}`);
  });
});
