import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Config } from '../config/load.js';
import { silentLogger } from '../logging/logger.js';
import { approveAll } from '../playbook/playbook.engine.js';
import { createIncidents } from '../playbook/incident.service.js';
import { Store } from '../store/store.js';
import type { VaultClient } from '../vault/client.js';
import type { Finding } from './finding.js';
import { diagnose, runbookPlaybook, type Runbook } from './runbook.js';

/** A cluster of one boolean, and a runbook that diagnoses and (optionally) mends it. */
function fakeRunbook(cluster: { broken: boolean }, mends: boolean) {
  const seen: Finding[][] = [];
  const runbook: Runbook<{ note?: string }> = {
    name: 'fake',
    title: 'Fake trouble',
    when: 'tests',
    flags: [],
    options: z.object({ note: z.string().optional() }),
    diagnose: async () =>
      cluster.broken
        ? [
            { id: 'minor', severity: 'info', symptom: 'a fact', evidence: { n: 1 }, suggested_step: 'none' },
            {
              id: 'broken',
              severity: 'high',
              symptom: 'it is broken',
              evidence: { broken: true },
              node: 'n1',
              suggested_step: 'mend',
            },
          ]
        : [],
    remediation: (_deps, _options, diagnosis) => [
      {
        id: 'mend',
        title: 'Mend',
        targetSeconds: 1,
        needsApproval: true,
        plan: async (ctx) => (await diagnosis(ctx)).map((f) => ({ action: `mend ${f.id}` })),
        run: async (ctx) => {
          seen.push(await diagnosis(ctx));
          if (mends) cluster.broken = false;
          return { evidence: { mended: mends } };
        },
      },
    ],
  };
  return { runbook, seen };
}

describe('runbook playbook: diagnose → remediation → verify-healthy', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function runIt(runbook: Runbook<{ note?: string }>) {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-runbook-'));
    const store = await Store.open(join(dir, 'store.db'));
    // The fake runbook never touches Vault or the config.
    const deps = { vault: {} as VaultClient, store, config: {} as Config, logger: silentLogger() };
    const incidents = createIncidents({
      store,
      logger: deps.logger,
      playbooks: { 'runbook:fake': runbookPlaybook(runbook) },
    });
    const steps = await runbookPlaybook(runbook)(deps, {});
    const incident = await incidents.declare({ type: 'runbook:fake', steps, options: {} });
    const result = await incidents.run(incident.id, steps, { approve: approveAll('test') });
    const detail = await incidents.show(incident.id);
    await store.close();
    return { result, detail };
  }

  it('journals the findings, hands them to the remediation and verifies the cluster healthy', async () => {
    const cluster = { broken: true };
    const { runbook, seen } = fakeRunbook(cluster, true);
    const { result, detail } = await runIt(runbook);
    expect(result.state).toBe('completed');
    expect(detail.steps.map((s) => [s.step_id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['mend', 'done'],
      ['verify-healthy', 'done'],
    ]);
    expect(detail.steps[0]!.evidence).toMatchObject({ healthy: false, findings: 2, high: 1, info: 1 });
    // The remediation saw the diagnosis the journal holds, most severe first.
    expect(seen[0]!.map((f) => f.id)).toEqual(['broken', 'minor']);
    expect(detail.steps[2]!.evidence).toMatchObject({ healthy: true });
  });

  it('fails verify-healthy, naming what is still wrong, when the remediation did not mend it', async () => {
    const { runbook } = fakeRunbook({ broken: true }, false);
    const { result, detail } = await runIt(runbook);
    expect(result.state).toBe('failed');
    expect(result.stoppedAt).toBe('verify-healthy');
    expect(detail.steps.find((s) => s.step_id === 'verify-healthy')?.error).toMatch(
      /fake: still unhealthy after remediation: broken \(n1\): it is broken/,
    );
  });

  it('orders findings by severity and counts info findings as healthy', async () => {
    const { runbook } = fakeRunbook({ broken: true }, false);
    const deps = {
      vault: {} as VaultClient,
      store: {} as Store,
      config: {} as Config,
      logger: silentLogger(),
    };
    const result = await diagnose(runbook, deps, {});
    expect(result).toMatchObject({ runbook: 'fake', healthy: false });
    expect(result.findings.map((f) => f.severity)).toEqual(['high', 'info']);
    const healthy = await diagnose({ ...runbook, diagnose: async () => [result.findings[1]!] }, deps, {});
    expect(healthy.healthy).toBe(true);
  });
});
