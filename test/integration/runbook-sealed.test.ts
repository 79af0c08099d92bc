import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunbookDiagnosis as Diagnosis } from '../../src/runbooks/runbook.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { badNode } from '../harness/raft-faults.js';

describe('runbook sealed against a real 3-node OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let dir: string;
  const cli = (args: string[], input?: string) =>
    runCli([...args, '--config', lab.configFile], {
      cwd: lab.dir,
      timeoutMs: 180_000,
      ...(input ? { input } : {}),
    });
  const sealEvery = async () => {
    for (const node of lab.lab().nodes) await vault.seal(node.address);
  };
  const sealState = async () =>
    Promise.all(lab.lab().nodes.map(async (n) => (await vault.sealStatus(n.address)).sealed));

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 3 });
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-sealed-'));
    await vault.kv('secret').write('runbook/sealed-probe', { value: 'still-here' });
  });
  afterAll(async () => {
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('calls a healthy cluster healthy', async () => {
    const result = await cli(['runbook', 'diagnose', 'sealed', '--json', '--fail-on', 'low']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json<Diagnosis>()).toEqual({ runbook: 'sealed', healthy: true, findings: [] });
  });

  it('names every sealed node with its seal type and threshold, and exits 3 at --fail-on', async () => {
    await sealEvery();
    const result = await cli(['runbook', 'diagnose', 'sealed', '--json', '--fail-on', 'high']);
    expect(result.code, result.stderr).toBe(3);
    const diagnosis = result.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(false);
    const sealed = diagnosis.findings.filter((f) => f.id === 'node-sealed');
    expect(sealed.map((f) => f.node).sort()).toEqual(
      lab
        .lab()
        .nodes.map((n) => n.address)
        .sort(),
    );
    for (const f of sealed) {
      expect(f.severity).toBe('critical');
      expect(f.evidence).toMatchObject({ seal_type: 'shamir', threshold: 3, shares: 5, progress: 0 });
    }
  });

  it('refuses too few shares before submitting any, leaves the incident resumable, and resume unseals', async () => {
    const two = join(dir, 'two-shares');
    const good = join(dir, 'good-shares');
    writeFileSync(two, lab.lab().unseal_keys.slice(0, 2).join('\n'), { mode: 0o600 });
    writeFileSync(good, lab.lab().unseal_keys.slice(2, 5).join('\n'), { mode: 0o600 });
    const first = await cli([
      'runbook',
      'run',
      'sealed',
      '--yes',
      '--incident',
      'inc-sealed',
      '--unseal-keys-file',
      two,
    ]);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/2 key share\(s\) given, the threshold is 3: nothing was submitted/);
    expect(first.stderr).toContain('sealwatch incident resume inc-sealed');
    for (const share of lab.lab().unseal_keys) expect(first.stdout + first.stderr).not.toContain(share);
    // Nothing half-done: every node still sealed with no unseal progress.
    for (const node of lab.lab().nodes)
      expect(await vault.sealStatus(node.address)).toMatchObject({ sealed: true, progress: 0 });
    const shown = await cli(['incident', 'show', 'inc-sealed', '--json']);
    const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
    expect(steps.map((s) => [s.step_id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['unseal', 'failed'],
      ['verify-read', 'pending'],
      ['verify-healthy', 'pending'],
    ]);

    const resumed = await cli([
      'incident',
      'resume',
      'inc-sealed',
      '--yes',
      '--json',
      '--unseal-keys-file',
      good,
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await sealState()).toEqual([false, false, false]);
    // The cluster serves data again, through every node.
    for (const node of lab.lab().nodes)
      expect(
        (
          await vault.read<{ data: { value: string } }>('secret/data/runbook/sealed-probe', {
            node: node.address,
          })
        ).data.data.value,
      ).toBe('still-here');
    const after = await cli(['runbook', 'diagnose', 'sealed', '--json', '--fail-on', 'low']);
    expect(after.code, after.stderr).toBe(0);
  });

  it("rejects shares that are not this cluster's and resets the unseal progress", async () => {
    await sealEvery();
    const wrong = join(dir, 'wrong-shares');
    // Well-formed shares (hex, the same length) of some other key.
    writeFileSync(wrong, ['a', 'b', 'c'].map((c) => c.repeat(66)).join('\n'), { mode: 0o600 });
    const result = await cli(['runbook', 'run', 'sealed', '--yes', '--unseal-keys-file', wrong]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/refused the key shares .*not this cluster's current shares/);
    for (const node of lab.lab().nodes)
      expect(await vault.sealStatus(node.address)).toMatchObject({ sealed: true, progress: 0 });
    // On a lab the key holders are lab.json: a run without shares unseals.
    const fixed = await cli(['runbook', 'run', 'sealed', '--yes']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await sealState()).toEqual([false, false, false]);
  });

  it('reports a node that hangs and one that answers garbage as findings, in seconds', async () => {
    const hang = await badNode('hang');
    const garbage = await badNode('garbage');
    try {
      const addresses = [...lab.lab().nodes.map((n) => n.address), hang.address, garbage.address];
      const result = await runCli(
        [
          'runbook',
          'diagnose',
          'sealed',
          '--json',
          '--addr',
          addresses.join(','),
          '--config',
          lab.configFile,
        ],
        { cwd: lab.dir, timeoutMs: 20_000, env: { BAO_TOKEN: lab.lab().root_token } },
      );
      expect(result.code, result.stderr).toBe(0);
      const findings = result.json<Diagnosis>().findings;
      const unreachable = findings.filter((f) => f.id === 'node-unreachable');
      expect(unreachable.map((f) => f.node).sort()).toEqual([hang.address, garbage.address].sort());
      expect(unreachable.find((f) => f.node === hang.address)?.evidence['error']).toMatch(/no answer within/);
      expect(findings.filter((f) => f.id === 'node-sealed')).toEqual([]);
    } finally {
      await hang.close();
      await garbage.close();
    }
  });
});
