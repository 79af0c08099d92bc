import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/runbooks/finding.js';
import type { RunbookDiagnosis } from '../../src/runbooks/runbook.js';
import { Store } from '../../src/store/store.js';
import { startPlainServer, type PlainServer } from '../harness/bao-server.js';
import { runCli } from '../harness/cli.js';

/** Steps whose action restores, reinitialises, removes a peer or wipes data. */
const RESTORING = /restore|reinitiali|initialise one node|moved aside|remove-peer|wipe/i;

/**
 * A healthy single-node server initialised by hand with one key share, outside the lab and with
 * no snapshot on record: one share is a hardening finding, never a temporary initialisation to
 * restore. With a share count on record that differs, the finding appears and names its evidence.
 */
describe('runbook cluster-failure on a healthy 1-of-1 server the lab did not make', () => {
  let server: PlainServer;
  let dir: string;
  let storeFile: string;
  const cli = (args: string[]) =>
    runCli([...args, '--store', storeFile], {
      cwd: dir,
      env: { BAO_ADDR: server.address, BAO_TOKEN: server.rootToken },
    });
  const diagnose = async (...extra: string[]) => {
    const result = await cli(['runbook', 'diagnose', 'cluster-failure', '--json', ...extra]);
    return { result, diagnosis: result.json<RunbookDiagnosis>() };
  };

  beforeAll(async () => {
    server = await startPlainServer({ shares: 1 });
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-cf-evidence-'));
    storeFile = join(dir, 'sealwatch.db');
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('raises no temporary-initialisation finding and proposes no restore, only the hardening finding', async () => {
    const bare = await diagnose('--fail-on', 'medium');
    expect(bare.result.code, bare.result.stderr).toBe(0);
    expect(bare.diagnosis.findings.find((f) => f.id === 'single-key-share')?.evidence).toMatchObject({
      recorded_shares: null,
      unfinished_restore: null,
    });
    // An earlier status records the count the node reports: the same 1 of 1, so still no incident.
    const observed = await cli(['status', '--json']);
    expect(observed.code, observed.stderr).toBe(0);
    expect(observed.json<{ nodes: { key_shares: number }[] }>().nodes[0]!.key_shares).toBe(1);
    const { result, diagnosis } = await diagnose('--fail-on', 'medium');
    expect(result.code, result.stderr).toBe(0);
    expect(diagnosis.healthy).toBe(true);
    const ids = diagnosis.findings.map((f) => f.id);
    expect(ids).not.toContain('temporary-initialisation');
    const single = diagnosis.findings.find((f) => f.id === 'single-key-share');
    expect(single).toMatchObject({
      severity: 'low',
      node: server.address,
      evidence: { shares: 1, threshold: 1, unfinished_restore: null },
    });
    expect(single!.evidence['recorded_shares']).toMatch(
      new RegExp(`^1 of 1 \\(sealwatch status at \\S+ \\(${server.address.replace(/\./g, '\\.')}\\)\\)$`),
    );
    expect(single!.symptom).toMatch(/one share unseals the cluster/);
    const above = diagnosis.findings.filter((f) => f.severity !== 'info' && f.id !== 'single-key-share');
    expect(above).toEqual([]);
    for (const f of diagnosis.findings)
      expect(f.suggested_step, f.id).not.toMatch(/runbook run cluster-failure/);

    const plain = await cli(['runbook', 'diagnose', 'cluster-failure']);
    expect(plain.stdout).not.toMatch(/temporary-initialisation|NOT healthy/);

    // A run changes nothing: every restoring step is skipped and the verification passes.
    const run = await cli(['runbook', 'run', 'cluster-failure', '--yes', '--incident', 'inc-one-share']);
    expect(run.code, run.stderr).toBe(0);
    const shown = await cli(['incident', 'show', 'inc-one-share', '--json']);
    const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
    const status = Object.fromEntries(steps.map((s) => [s.step_id, s.status]));
    expect(status).toMatchObject({
      'choose-snapshot': 'skipped',
      'restore-snapshot': 'skipped',
      'unseal-restored': 'skipped',
      'verify-healthy': 'done',
    });
    const seal = await server.client().sealStatus(server.address);
    expect(seal).toMatchObject({ initialized: true, sealed: false, n: 1, t: 1 });
  });

  it('with a different share count on record, the finding appears and names the evidence it rests on', async () => {
    const store = await Store.open(storeFile);
    // Newer than the status observation above: the newest record is the evidence.
    const takenAt = new Date(Date.now() + 1000).toISOString();
    try {
      await store.backups.record({
        id: 'b-recorded-5-of-3',
        taken_at: takenAt,
        file: join(dir, 'gone.snap'),
        bytes: 1,
        sha256: '0'.repeat(64),
        cluster_name: null,
        cluster_id: null,
        leader_address: server.address,
        server_flavor: 'openbao',
        server_version: '2.7.2',
        key_shares: 5,
        key_threshold: 3,
        baseline: { policies: 0, auth_mounts: 0, secret_mounts: 0, kv_mounts: [], kv_sample: [] },
      });
    } finally {
      await store.close();
    }
    const { result, diagnosis } = await diagnose('--fail-on', 'high');
    expect(result.code).toBe(3);
    const temporary = diagnosis.findings.find((f) => f.id === 'temporary-initialisation');
    expect(temporary).toMatchObject({ severity: 'high', node: server.address });
    expect(temporary!.symptom).toMatch(/not the cluster's 3 of 5/);
    expect(temporary!.evidence['rests_on']).toBe(
      `backup b-recorded-5-of-3 taken ${takenAt} recorded the cluster's seal as 3 of 5`,
    );
    expect(diagnosis.findings.map((f) => f.id)).not.toContain('single-key-share');
  });

  it('every finding whose next step restores or wipes names its evidence', async () => {
    const { diagnosis } = await diagnose();
    const restoring = diagnosis.findings.filter(
      (f: Finding) => f.severity !== 'info' && RESTORING.test(f.suggested_step),
    );
    expect(restoring.length).toBeGreaterThan(0);
    for (const f of restoring) expect(f.evidence['rests_on'], f.id).toMatch(/\S/);
  });
});
