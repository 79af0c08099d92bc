import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/util/processes.js';
import { clusterFailureRunbook } from '../../src/runbooks/runbooks/cluster-failure.runbook.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import {
  killNode,
  raftIsHealthy,
  restartNode,
  timedDiagnosis,
  until,
  type Diagnosis,
} from '../harness/raft-faults.js';

const POLICY = 'path "secret/data/cluster-failure/*" { capabilities = ["read"] }\n';

describe('runbook cluster-failure against a real 3-node OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let work: string;
  let snapshotFile: string;
  const cli = (args: string[]) =>
    runCli([...args, '--config', lab.configFile], { cwd: lab.dir, timeoutMs: 300_000 });
  const nodeStates = () => Promise.all(lab.lab().nodes.map((n) => vault.sealStatus(n.address)));
  /** The whole cluster gone for real: every process SIGKILLed, every raft data directory wiped. */
  const destroyCluster = async (restartEmpty: boolean) => {
    for (const node of lab.lab().nodes) if (isAlive(node.pid)) await killNode(node);
    for (const node of lab.lab().nodes) {
      rmSync(node.data_dir, { recursive: true, force: true });
      mkdirSync(node.data_dir, { recursive: true, mode: 0o700 });
    }
    if (restartEmpty) for (const node of lab.lab().nodes) await restartNode(lab, node.node_id);
  };

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 2 });
    vault = lab.client();
    work = mkdtempSync(join(tmpdir(), 'sealwatch-cluster-failure-'));
    snapshotFile = join(work, 'cluster.snap');
    const kv = vault.kv('secret');
    await kv.write('cluster-failure/known', { value: 'first' });
    await kv.write('cluster-failure/known', { value: 'second' });
    await kv.write('cluster-failure/other', { value: 'only' });
    await vault.writePolicy('cluster-failure-reader', POLICY);

    const snap = await cli(['backup', 'snapshot', '--out', snapshotFile, '--json']);
    expect(snap.code, snap.stderr).toBe(0);
    const verify = await cli(['backup', 'verify', snapshotFile, '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.json<{ ok: boolean }>().ok).toBe(true);
  }, 300_000);
  afterAll(async () => {
    await lab?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('calls the intact cluster healthy, with the verified snapshot as evidence', async () => {
    const { seconds, diagnosis } = await timedDiagnosis(lab, clusterFailureRunbook);
    expect(seconds).toBeLessThan(3);
    expect(diagnosis.healthy, JSON.stringify(diagnosis.findings)).toBe(true);
    expect(diagnosis.findings.map((f) => f.id)).toEqual(['verified-snapshot']);
    expect(diagnosis.findings[0]!.evidence).toMatchObject({ file: snapshotFile });
  });

  it('every process killed: cluster-down with each node and its error, within the time budget', async () => {
    for (const node of lab.lab().nodes) await killNode(node);
    const { seconds, diagnosis } = await timedDiagnosis(lab, clusterFailureRunbook);
    expect(seconds).toBeLessThan(3);
    const down = diagnosis.findings.find((f) => f.id === 'cluster-down');
    expect(down?.severity).toBe('critical');
    const nodes = down!.evidence['nodes'] as Record<string, string>;
    expect(Object.keys(nodes).sort()).toEqual(
      lab
        .lab()
        .nodes.map((n) => n.address)
        .sort(),
    );
    for (const error of Object.values(nodes)) expect(error).toMatch(/refused|ECONNREFUSED|connect/i);
    // A snapshot to restore from is named even while nothing answers.
    expect(diagnosis.findings.find((f) => f.id === 'verified-snapshot')?.evidence).toMatchObject({
      file: snapshotFile,
    });

    const cliRun = await cli(['runbook', 'diagnose', 'cluster-failure', '--json', '--fail-on', 'high']);
    expect(cliRun.code, cliRun.stderr).toBe(3);
    expect(cliRun.json<Diagnosis>().findings[0]!.id).toBe('cluster-down');
  });

  it('every process killed with the data intact: the run starts the nodes and unseals them, restoring nothing', async () => {
    const res = await cli(['runbook', 'run', 'cluster-failure', '--yes', '--incident', 'inc-cf-outage']);
    expect(res.code, res.stderr).toBe(0);
    expect(await until('raft healthy', () => raftIsHealthy(lab, vault), 30_000)).toBe(true);
    const shown = await cli(['incident', 'show', 'inc-cf-outage', '--json']);
    const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
    expect(Object.fromEntries(steps.map((s) => [s.step_id, s.status]))).toMatchObject({
      'start-nodes': 'done',
      'restore-snapshot': 'skipped',
      'join-nodes': 'done',
      'verify-healthy': 'done',
    });
    expect((await vault.kv('secret').read('cluster-failure/known'))?.data).toEqual({ value: 'second' });
  }, 300_000);

  it('data dirs wiped and the processes restarted empty: cluster-uninitialized with the snapshot to restore', async () => {
    await destroyCluster(true);
    expect((await nodeStates()).every((s) => !s.initialized)).toBe(true);
    const { seconds, diagnosis } = await timedDiagnosis(lab, clusterFailureRunbook);
    expect(seconds).toBeLessThan(3);
    const empty = diagnosis.findings.find((f) => f.id === 'cluster-uninitialized');
    expect(empty?.severity).toBe('critical');
    expect(empty!.evidence['uninitialised']).toHaveLength(3);

    const result = await cli(['runbook', 'diagnose', 'cluster-failure', '--json', '--fail-on', 'high']);
    expect(result.code, result.stderr).toBe(3);
    const fromCli = result.json<Diagnosis>();
    expect(fromCli.findings[0]!.id).toBe('cluster-uninitialized');
    const evidence = fromCli.findings.find((f) => f.id === 'verified-snapshot')!.evidence;
    expect(evidence).toMatchObject({ file: snapshotFile, last_drill: { ok: true } });
    expect(evidence['taken_at']).toEqual(expect.any(String));
    expect(evidence['age_seconds']).toEqual(expect.any(Number));

    // The plan is data: the restore is the destructive step that needs approval; nothing is done.
    const dry = await cli(['runbook', 'run', 'cluster-failure', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = dry.json<{
      steps: { id: string; needs_approval: boolean; actions: { action: string; destructive?: boolean }[] }[];
    }>();
    const restore = plan.steps.find((s) => s.id === 'restore-snapshot')!;
    expect(restore.needs_approval).toBe(true);
    expect(restore.actions.some((a) => a.destructive && a.action.includes('force-restore'))).toBe(true);
    expect((await nodeStates()).every((s) => !s.initialized)).toBe(true);
  }, 300_000);

  it('refuses a truncated or non-snapshot --snapshot in one line before initialising anything; the incident stays resumable', async () => {
    const whole = readFileSync(snapshotFile);
    const truncated = join(work, 'truncated.snap');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const notSnapshot = join(work, 'notes.snap');
    writeFileSync(notSnapshot, 'this is not a raft snapshot\n');

    for (const [file, reason, incident] of [
      [truncated, /truncated/, 'inc-cf-truncated'],
      [notSnapshot, /not a raft snapshot/, 'inc-cf-garbage'],
    ] as const) {
      const res = await cli([
        'runbook',
        'run',
        'cluster-failure',
        '--yes',
        '--snapshot',
        file,
        '--incident',
        incident,
      ]);
      expect(res.code, res.stderr).toBe(1);
      // One line says what is wrong with which file (the progress lines before it are the step log).
      const errorLines = res.stderr.split('\n').filter((l) => l.startsWith('sealwatch:'));
      expect(errorLines).toHaveLength(1);
      expect(errorLines[0]).toContain(file);
      expect(errorLines[0]).toMatch(reason);
      expect(res.stderr).toContain(`sealwatch incident resume ${incident}`);
      // Nothing initialised: every node is still empty.
      expect((await nodeStates()).every((s) => !s.initialized)).toBe(true);
      const shown = await cli(['incident', 'show', incident, '--json']);
      expect(shown.code, shown.stderr).toBe(0);
      const show = shown.json<{ steps: { step_id: string; status: string }[] }>();
      const byId = Object.fromEntries(show.steps.map((s) => [s.step_id, s.status]));
      expect(byId['choose-snapshot']).toBe('failed');
      expect(byId['restore-snapshot']).toBe('pending');
    }
  }, 300_000);

  it('restores the verified snapshot: every node unsealed, one leader, 3 voters, the secrets, the policy and the root token back', async () => {
    const started = performance.now();
    const res = await cli(['runbook', 'run', 'cluster-failure', '--yes', '--incident', 'inc-cf-restore']);
    const seconds = (performance.now() - started) / 1000;
    expect(res.code, res.stderr).toBe(0);
    expect(seconds).toBeLessThan(240);

    const states = await nodeStates();
    expect(states.every((s) => s.initialized && !s.sealed && s.t === 3 && s.n === 5)).toBe(true);
    expect(await until('raft healthy', () => raftIsHealthy(lab, vault), 30_000)).toBe(true);
    const health = await Promise.all(lab.lab().nodes.map((n) => vault.health(n.address)));
    expect(health.filter((h) => h.httpStatus === 200)).toHaveLength(1);
    const config = await vault.raftConfiguration();
    expect(config.config.servers.filter((s) => s.voter)).toHaveLength(3);

    const kv = vault.kv('secret');
    const known = await kv.read('cluster-failure/known');
    expect(known?.metadata.version).toBe(2);
    expect(known?.data).toEqual({ value: 'second' });
    expect((await kv.read('cluster-failure/known', 1))?.data).toEqual({ value: 'first' });
    expect((await kv.read('cluster-failure/other'))?.data).toEqual({ value: 'only' });
    expect(await vault.readPolicy('cluster-failure-reader')).toBe(POLICY);
    const self = await vault.tokenLookupSelf();
    expect(self.policies).toContain('root');

    const shown = await cli(['incident', 'show', 'inc-cf-restore', '--json']);
    const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
    expect(steps.map((s) => [s.step_id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['start-nodes', 'skipped'],
      ['choose-snapshot', 'done'],
      ['restore-snapshot', 'done'],
      ['unseal-restored', 'done'],
      ['join-nodes', 'done'],
      ['verify-data', 'done'],
      ['verify-healthy', 'done'],
    ]);
    // The temporary key and token never reach the journal or the output.
    expect(res.stdout + res.stderr).not.toMatch(/s\.[A-Za-z0-9]{20,}/);
  }, 300_000);

  it('resuming the incident cut off before the restore finds the data there and does not restore again', async () => {
    // Written after the restore: a second restore of the snapshot would take it away.
    await vault.kv('secret').write('cluster-failure/after-restore', { value: 'kept' });
    // The cause fixed: the file the incident names is now the whole snapshot.
    writeFileSync(join(work, 'truncated.snap'), readFileSync(snapshotFile));
    const resumed = await cli(['incident', 'resume', 'inc-cf-truncated', '--yes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const shown = await cli(['incident', 'show', 'inc-cf-truncated', '--json']);
    const steps = shown.json<{
      steps: { step_id: string; status: string; evidence?: Record<string, unknown> }[];
    }>().steps;
    const restore = steps.find((s) => s.step_id === 'restore-snapshot')!;
    expect(restore.status).toBe('done');
    expect(restore.evidence).toMatchObject({ state: 'the data of the snapshot is there', done: [] });
    expect((await vault.kv('secret').read('cluster-failure/after-restore'))?.data).toEqual({ value: 'kept' });
    expect(await until('raft healthy', () => raftIsHealthy(lab, vault), 30_000)).toBe(true);
  }, 300_000);

  it('a second run on the restored cluster restores nothing again', async () => {
    const res = await cli(['runbook', 'run', 'cluster-failure', '--yes', '--incident', 'inc-cf-again']);
    expect(res.code, res.stderr).toBe(0);
    const shown = await cli(['incident', 'show', 'inc-cf-again', '--json']);
    const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
    expect(Object.fromEntries(steps.map((s) => [s.step_id, s.status]))['restore-snapshot']).toBe('skipped');
    expect((await vault.kv('secret').read('cluster-failure/known'))?.metadata.version).toBe(2);
    expect((await vault.kv('secret').read('cluster-failure/after-restore'))?.data).toEqual({ value: 'kept' });
  }, 300_000);
  it('data deleted from the live cluster: data-missing against the snapshot baseline, and the run restores it in place', async () => {
    await vault.deletePolicy('cluster-failure-reader');
    await vault.kv('secret').destroy('cluster-failure/known', [2]);
    const { seconds, diagnosis } = await timedDiagnosis(lab, clusterFailureRunbook);
    expect(seconds).toBeLessThan(3);
    const missing = diagnosis.findings.find((f) => f.id === 'data-missing');
    expect(missing?.severity).toBe('high');
    expect(missing!.evidence['checks']).toHaveProperty('policies');
    expect(diagnosis.findings.map((f) => f.id)).not.toContain('cluster-uninitialized');

    const diagnosed = await cli(['runbook', 'diagnose', 'cluster-failure', '--json', '--fail-on', 'high']);
    expect(diagnosed.code, diagnosed.stderr).toBe(3);

    const res = await cli(['runbook', 'run', 'cluster-failure', '--yes', '--incident', 'inc-cf-in-place']);
    expect(res.code, res.stderr).toBe(0);
    expect(await vault.readPolicy('cluster-failure-reader')).toBe(POLICY);
    expect((await vault.kv('secret').read('cluster-failure/known', 2))?.data).toEqual({ value: 'second' });
    expect(await until('raft healthy', () => raftIsHealthy(lab, vault), 30_000)).toBe(true);
    expect((await nodeStates()).every((s) => s.initialized && !s.sealed)).toBe(true);
  }, 300_000);
  it('a temporary 1-of-1 initialisation left by a cut-off run is restarted, moved aside and restored afresh', async () => {
    await destroyCluster(true);
    // What a run cut off between the temporary init and the restore leaves: the key died with it.
    const first = lab.lab().nodes[0]!;
    const init = await vault.init(first.address, { secret_shares: 1, secret_threshold: 1 });
    await vault.unseal(first.address, init.keys[0]!);
    const { diagnosis } = await timedDiagnosis(lab, clusterFailureRunbook);
    const temporary = diagnosis.findings.find((f) => f.id === 'temporary-initialisation');
    expect(temporary).toMatchObject({ severity: 'high', node: first.address });

    const res = await cli(['runbook', 'run', 'cluster-failure', '--yes', '--incident', 'inc-cf-temporary']);
    expect(res.code, res.stderr).toBe(0);
    const shown = await cli(['incident', 'show', 'inc-cf-temporary', '--json']);
    const restore = shown
      .json<{ steps: { step_id: string; evidence?: { done?: string[] } }[] }>()
      .steps.find((s) => s.step_id === 'restore-snapshot')!;
    const moved = restore.evidence!.done!.find((d) => d.startsWith('temporary data moved to '));
    expect(moved).toBeDefined();
    expect(existsSync(moved!.slice('temporary data moved to '.length))).toBe(true);
    expect(await until('raft healthy', () => raftIsHealthy(lab, vault), 30_000)).toBe(true);
    expect((await nodeStates()).every((s) => s.t === 3 && s.n === 5 && !s.sealed)).toBe(true);
    expect((await vault.kv('secret').read('cluster-failure/known'))?.data).toEqual({ value: 'second' });
    expect(await vault.readPolicy('cluster-failure-reader')).toBe(POLICY);
  }, 300_000);
});
