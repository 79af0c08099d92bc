import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess } from '../../src/util/processes.js';
import { storageRunbook } from '../../src/runbooks/runbooks/storage.runbook.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import {
  activeNode,
  badNode,
  raftIsHealthy,
  restartNode,
  timedDiagnosis,
  until,
  type Diagnosis,
  diagnoser,
} from '../harness/raft-faults.js';

interface Step {
  step_id: string;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  evidence?: Record<string, unknown>;
}

describe('runbook storage against a real 3-node OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let scratch: string;
  const cli = (args: string[], timeoutMs = 240_000) =>
    runCli([...args, '--config', lab.configFile], { cwd: lab.dir, timeoutMs });
  const diagnose = diagnoser(cli, 'storage');
  const steps = async (incident: string) =>
    (await cli(['incident', 'show', incident, '--json'])).json<{ steps: Step[] }>().steps;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 2 });
    vault = lab.client();
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-storage-'));
    await vault.kv('secret').write('runbook/storage-probe', { value: 'written-before-the-wipe' });
  });
  afterAll(async () => {
    await lab?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('reports each data directory, and that no snapshot exists', async () => {
    const { result, diagnosis } = await diagnose('medium');
    expect(result.code, result.stderr).toBe(3);
    expect(diagnosis.findings.filter((f) => f.severity !== 'info').map((f) => f.id)).toEqual([
      'snapshot-missing',
    ]);
    const usage = diagnosis.findings.filter((f) => f.id === 'data-dir-usage');
    expect(usage.map((f) => f.node).sort()).toEqual(
      lab
        .lab()
        .nodes.map((n) => n.address)
        .sort(),
    );
    for (const f of usage) {
      expect(f.evidence['vault_db_allocated_bytes']).toBeGreaterThan(48 * 1024);
      expect(f.evidence['raft_db_allocated_bytes']).toBeGreaterThan(48 * 1024);
      expect(f.evidence['free_pct']).toBeGreaterThan(0);
    }
    const timed = await timedDiagnosis(lab, storageRunbook);
    expect(timed.seconds).toBeLessThan(3);
  });

  it('a wiped follower is named; the run snapshots first, removes and re-joins it, and it serves the old data', async () => {
    const leader = await activeNode(lab, vault);
    const victim = lab.lab().nodes.find((n) => n.node_id !== leader.node_id)!;
    await stopProcess(victim.pid, 10_000);
    rmSync(victim.data_dir, { recursive: true, force: true });
    mkdirSync(victim.data_dir, { mode: 0o700 });
    await restartNode(lab, victim.node_id);
    await until('autopilot to see the wiped node unhealthy', async () => {
      const state = await vault.autopilotState();
      return state.servers[victim.node_id]?.healthy === false;
    });

    const { result, diagnosis } = await diagnose('high');
    expect(result.code, result.stderr).toBe(3);
    const wiped = diagnosis.findings.find((f) => f.id === 'data-dir-wiped');
    expect(wiped?.node).toBe(victim.address);
    expect(wiped?.evidence).toMatchObject({
      data_dir: victim.data_dir,
      in_raft: true,
      sealed: true,
      node_id: victim.node_id,
      peer_healthy: false,
    });
    expect(wiped?.evidence['vault_db_allocated_bytes']).toBeLessThanOrEqual(48 * 1024);
    expect(
      diagnosis.findings.find((f) => f.id === 'peer-unhealthy' && f.node === victim.address)?.evidence[
        'node_id'
      ],
    ).toBe(victim.node_id);

    // First run: the snapshot cannot be written (a file is in the way). Nothing may be removed.
    const blocker = join(scratch, 'blocker');
    writeFileSync(blocker, 'not a directory');
    const blocked = await cli([
      'runbook',
      'run',
      'storage',
      '--yes',
      '--incident',
      'inc-storage',
      '--snapshot-dir',
      join(blocker, 'snapshots'),
    ]);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain('sealwatch incident resume inc-storage');
    expect((await vault.raftConfiguration()).config.servers.map((s) => s.node_id)).toContain(victim.node_id);
    expect((await steps('inc-storage')).map((s) => [s.step_id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['snapshot', 'failed'],
      ['remove-and-rejoin', 'pending'],
      ['recover-nodes', 'pending'],
      ['wait-healthy', 'pending'],
      ['verify-healthy', 'pending'],
    ]);

    // The operator clears the way and resumes: snapshot, then remove, re-join, unseal, verify.
    rmSync(blocker);
    const resumed = await cli(['incident', 'resume', 'inc-storage', '--yes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const journal = await steps('inc-storage');
    const snapshot = journal.find((s) => s.step_id === 'snapshot')!;
    const rejoin = journal.find((s) => s.step_id === 'remove-and-rejoin')!;
    expect(snapshot.status).toBe('done');
    expect(rejoin.status).toBe('done');
    expect(Date.parse(snapshot.ended_at!)).toBeLessThanOrEqual(Date.parse(rejoin.started_at!));
    const file = String(snapshot.evidence?.['file']);
    expect(file.startsWith(join(blocker, 'snapshots'))).toBe(true);
    expect(existsSync(file)).toBe(true);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(snapshot.evidence?.['sha256']);
    expect(rejoin.evidence?.['removed']).toEqual([victim.node_id]);
    // The store has the snapshot's record, with the same checksum.
    const listed = await cli(['backup', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(String(snapshot.evidence?.['sha256']));

    // In the real cluster: every voter healthy, the node has raft data again and serves the old secret.
    await until('the cluster to be healthy', () => raftIsHealthy(lab, vault));
    expect(existsSync(join(victim.data_dir, 'vault.db'))).toBe(true);
    const read = await vault.read<{ data: { value: string } }>('secret/data/runbook/storage-probe', {
      node: victim.address,
    });
    expect(read.data.data.value).toBe('written-before-the-wipe');
    const after = await diagnose('low');
    expect(after.result.code, after.result.stderr).toBe(0);
    expect(after.diagnosis.findings.find((f) => f.id === 'snapshot-age')?.evidence['sha256']).toBe(
      snapshot.evidence?.['sha256'],
    );
  });

  it('reports a hanging and a garbage node within the time budget; a bad --data-dir is a usage error', async () => {
    const hang = await badNode('hang');
    const garbage = await badNode('garbage');
    try {
      const timed = await timedDiagnosis(lab, storageRunbook, {}, [hang.address, garbage.address]);
      expect(timed.seconds).toBeLessThan(3);
      const unreachable = timed.diagnosis.findings.filter((f) => f.id === 'node-unreachable');
      expect(unreachable.map((f) => f.node).sort()).toEqual([hang.address, garbage.address].sort());
      const addresses = [...lab.lab().nodes.map((n) => n.address), hang.address, garbage.address].join(',');
      const result = await runCli(
        [
          'runbook',
          'diagnose',
          'storage',
          '--json',
          '--addr',
          addresses,
          '--data-dir',
          `${hang.address}=${join(scratch, 'nowhere')}`,
          '--config',
          lab.configFile,
        ],
        { cwd: lab.dir, timeoutMs: 20_000, env: { BAO_TOKEN: lab.lab().root_token } },
      );
      expect(result.code, result.stderr).toBe(0);
      const findings = result.json<Diagnosis>().findings;
      expect(findings.filter((f) => f.id === 'node-unreachable')).toHaveLength(2);
      expect(
        findings.find((f) => f.id === 'data-dir-wiped' && f.node === hang.address)?.evidence,
      ).toMatchObject({
        exists: false,
        answers: false,
      });
    } finally {
      await hang.close();
      await garbage.close();
    }
    const bad = await cli(['runbook', 'diagnose', 'storage', '--data-dir', 'no-equals-sign']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('give NODE=PATH');
  });
});
