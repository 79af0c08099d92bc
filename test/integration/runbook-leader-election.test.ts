import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess } from '../../src/util/processes.js';
import { leaderElectionRunbook } from '../../src/runbooks/runbooks/leader-election.runbook.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import {
  activeNode,
  badNode,
  killNode,
  raftIsHealthy,
  restartNode,
  until,
  timedDiagnosis,
  type Diagnosis,
  diagnoser,
} from '../harness/raft-faults.js';

describe('runbook leader-election against a real 3-node OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  const cli = (args: string[], timeoutMs = 240_000) =>
    runCli([...args, '--config', lab.configFile], { cwd: lab.dir, timeoutMs });
  const diagnose = diagnoser(cli, 'leader-election');
  /** The diagnosis itself, timed in this process (the CLI's start-up is not part of the budget). */
  const timed = (extra: string[] = []) => timedDiagnosis(lab, leaderElectionRunbook, {}, extra);
  const nodeAt = (nodeId: string) => lab.lab().nodes.find((n) => n.node_id === nodeId)!;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 2 });
    vault = lab.client();
    await vault.kv('secret').write('runbook/leader-probe', { value: 'before-the-faults' });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('calls a healthy cluster healthy: one leader, three healthy voters', async () => {
    const { result, diagnosis } = await diagnose('low');
    expect(result.code, result.stderr).toBe(0);
    expect(diagnosis.healthy).toBe(true);
    const summary = diagnosis.findings.find((f) => f.id === 'raft-summary')!;
    expect(summary.evidence).toMatchObject({ failure_tolerance: 1, autopilot_healthy: true });
    expect((summary.evidence['voters'] as string[]).sort()).toEqual(['node1', 'node2', 'node3']);
    const { seconds, diagnosis: inProcess } = await timed();
    expect(inProcess.healthy).toBe(true);
    expect(seconds).toBeLessThan(3);
  });

  it('kill -9 of the leader: a new leader is elected, the dead peer is named, the runbook brings it back', async () => {
    const leader = await activeNode(lab, vault);
    await killNode(leader);
    // The survivors elect a new leader, and autopilot marks the dead one unhealthy.
    await until('a new leader that sees the old one unhealthy', async () => {
      const state = await vault.autopilotState();
      return state.leader !== leader.node_id && state.servers[leader.node_id]?.healthy === false;
    });
    const { result, diagnosis } = await diagnose('high');
    expect(result.code, result.stderr).toBe(3);
    // A dead node refuses connections: the diagnosis does not wait for it.
    expect((await timed()).seconds).toBeLessThan(3);
    const ids = diagnosis.findings.filter((f) => f.node === leader.address).map((f) => f.id);
    expect(ids.sort()).toEqual(['node-unreachable', 'peer-unhealthy']);
    // Just after an election a live follower may look unhealthy for a moment too: the dead one is asserted.
    const peer = diagnosis.findings.find((f) => f.id === 'peer-unhealthy' && f.node === leader.address)!;
    expect(peer.evidence).toMatchObject({ node_id: leader.node_id, node_status: expect.any(String) });
    expect(peer.evidence['last_contact']).toMatch(/s$/);
    expect(diagnosis.findings.find((f) => f.id === 'quorum-at-risk')?.evidence).toMatchObject({
      failure_tolerance: 0,
    });
    expect(diagnosis.findings.some((f) => f.id === 'no-leader' || f.id === 'several-leaders')).toBe(false);

    // The operator restarts it: it comes back sealed; the runbook unseals it and waits for it to rejoin.
    await restartNode(lab, leader.node_id);
    const sealed = await diagnose();
    expect(
      sealed.diagnosis.findings.find((f) => f.id === 'node-sealed' && f.node === leader.address)?.evidence,
    ).toMatchObject({
      in_raft: true,
      node_id: leader.node_id,
    });
    const run = await cli(['runbook', 'run', 'leader-election', '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(await raftIsHealthy(lab, vault)).toBe(true);
    expect((await vault.sealStatus(leader.address)).sealed).toBe(false);
    expect((await diagnose('low')).result.code).toBe(0);
  });

  it('kill -9 of a follower: the runbook restarts it (lab), unseals it and verifies every voter healthy', async () => {
    const leader = await activeNode(lab, vault);
    const follower = lab.lab().nodes.find((n) => n.node_id !== leader.node_id)!;
    await killNode(follower);
    await until('autopilot to see the follower unhealthy', async () => {
      const state = await vault.autopilotState();
      return state.servers[follower.node_id]?.healthy === false;
    });
    const { diagnosis } = await diagnose();
    expect(
      diagnosis.findings
        .filter((f) => f.node === follower.address)
        .map((f) => f.id)
        .sort(),
    ).toEqual(['node-unreachable', 'peer-unhealthy']);
    const run = await cli(['runbook', 'run', 'leader-election', '--yes', '--incident', 'inc-follower']);
    expect(run.code, run.stderr).toBe(0);
    expect(await raftIsHealthy(lab, vault)).toBe(true);
    expect(nodeAt(follower.node_id).pid).not.toBe(follower.pid);
    const shown = await cli(['incident', 'show', 'inc-follower', '--json']);
    const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
    expect(steps.map((s) => [s.step_id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['step-down', 'skipped'],
      ['recover-nodes', 'done'],
      ['rejoin', 'skipped'],
      ['wait-healthy', 'done'],
      ['verify-healthy', 'done'],
    ]);
  });

  it('a peer removed from the raft configuration is named and re-joined with its stale data moved aside', async () => {
    const leader = await activeNode(lab, vault);
    const victim = lab.lab().nodes.find((n) => n.node_id !== leader.node_id)!;
    await vault.raftRemovePeer(victim.node_id);
    await until('the peer to be gone', async () =>
      (await vault.raftConfiguration()).config.servers.every((s) => s.node_id !== victim.node_id),
    );
    const { diagnosis } = await diagnose('high');
    const removed = diagnosis.findings.find((f) => f.id === 'node-not-in-raft');
    expect(removed?.node).toBe(victim.address);
    expect(removed?.evidence).toMatchObject({ node_id: victim.node_id });
    expect(removed?.evidence['raft_configuration']).not.toContain(victim.node_id);
    // The removed node still answers unsealed, from its own stale view (which may or may not still
    // list itself: the removal is not always replicated to the node being removed).
    expect(removed?.evidence['own_view']).toEqual(
      expect.arrayContaining(['node1', 'node2', 'node3'].filter((id) => id !== victim.node_id)),
    );

    const dry = await cli(['runbook', 'run', 'leader-election', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('move its raft data aside');
    expect((await vault.raftConfiguration()).config.servers).toHaveLength(2);

    const run = await cli(['runbook', 'run', 'leader-election', '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(await raftIsHealthy(lab, vault)).toBe(true);
    const servers = (await vault.raftConfiguration()).config.servers;
    expect(servers.find((s) => s.node_id === victim.node_id)).toMatchObject({ voter: true });
    expect(run.stdout).toContain('stale_data_moved_to');
    const moved = /"stale_data_moved_to":\s*"([^"]+)"/.exec(run.stdout)?.[1];
    expect(moved && existsSync(moved)).toBe(true);
    // The re-joined node serves the data written before the fault.
    const read = await vault.read<{ data: { value: string } }>('secret/data/runbook/leader-probe', {
      node: victim.address,
    });
    expect(read.data.data.value).toBe('before-the-faults');
  });

  it('a node that lost its data and has no retry_join comes back uninitialised; the runbook joins it explicitly', async () => {
    const leader = await activeNode(lab, vault);
    const victim = lab.lab().nodes.find((n) => n.node_id !== leader.node_id)!;
    await stopProcess(victim.pid, 10_000);
    await vault.raftRemovePeer(victim.node_id);
    rmSync(victim.data_dir, { recursive: true, force: true });
    mkdirSync(victim.data_dir, { mode: 0o700 });
    // Without retry_join a node with no data waits, uninitialised, for an explicit join.
    const config = readFileSync(victim.config_file, 'utf8');
    writeFileSync(victim.config_file, config.replace(/ {2}retry_join \{[^}]*\}\n/g, ''));
    expect(readFileSync(victim.config_file, 'utf8')).not.toContain('retry_join');
    await restartNode(lab, victim.node_id);
    expect((await vault.sealStatus(victim.address)).initialized).toBe(false);

    const { result, diagnosis } = await diagnose('high');
    expect(result.code).toBe(3);
    expect(diagnosis.findings.find((f) => f.id === 'node-uninitialized')?.node).toBe(victim.address);
    const run = await cli(['runbook', 'run', 'leader-election', '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`joined ${leader.address}`);
    expect(await raftIsHealthy(lab, vault)).toBe(true);
    expect(
      (await vault.raftConfiguration()).config.servers.find((s) => s.node_id === victim.node_id),
    ).toMatchObject({
      voter: true,
    });
  });

  it('reports a node that hangs and one that answers garbage within the time budget; a run leaves the incident resumable', async () => {
    const hang = await badNode('hang');
    const garbage = await badNode('garbage');
    try {
      const addresses = [...lab.lab().nodes.map((n) => n.address), hang.address, garbage.address].join(',');
      const env = { BAO_TOKEN: lab.lab().root_token };
      const started = Date.now();
      const result = await runCli(
        ['runbook', 'diagnose', 'leader-election', '--json', '--addr', addresses, '--config', lab.configFile],
        { cwd: lab.dir, timeoutMs: 20_000, env },
      );
      expect(result.code, result.stderr).toBe(0);
      expect((Date.now() - started) / 1000).toBeLessThan(15);
      const inProcess = await timed([hang.address, garbage.address]);
      expect(inProcess.seconds).toBeLessThan(3);
      expect(inProcess.diagnosis.findings.filter((f) => f.id === 'node-unreachable')).toHaveLength(2);
      const findings = result.json<Diagnosis>().findings;
      const unreachable = findings.filter((f) => f.id === 'node-unreachable');
      expect(unreachable.map((f) => f.node).sort()).toEqual([hang.address, garbage.address].sort());
      expect(findings.some((f) => f.id === 'no-leader' || f.id === 'peer-unhealthy')).toBe(false);

      const before = (await vault.raftConfiguration()).config.servers.map((s) => s.node_id).sort();
      const run = await runCli(
        [
          'runbook',
          'run',
          'leader-election',
          '--yes',
          '--incident',
          'inc-bad-node',
          '--wait',
          '5s',
          '--addr',
          addresses,
          '--config',
          lab.configFile,
        ],
        { cwd: lab.dir, timeoutMs: 120_000, env },
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('sealwatch incident resume inc-bad-node');
      expect(
        run.stderr
          .trim()
          .split('\n')
          .some((l) => /raft still not healthy .*node-unreachable/.test(l)),
      ).toBe(true);
      // Nothing was removed or restarted for a node the runbook cannot manage.
      expect((await vault.raftConfiguration()).config.servers.map((s) => s.node_id).sort()).toEqual(before);
      expect(await raftIsHealthy(lab, vault)).toBe(true);
      const shown = await cli(['incident', 'show', 'inc-bad-node', '--json']);
      const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
      expect(steps.find((s) => s.step_id === 'wait-healthy')?.status).toBe('failed');
    } finally {
      await hang.close();
      await garbage.close();
    }
  });
});
