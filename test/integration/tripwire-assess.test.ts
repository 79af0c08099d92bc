import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assess } from '../../src/assess/assess.service.js';
import { ingestAuditFiles } from '../../src/audit/ingest.js';
import { mustParsePathTemplate, PathTemplateMatcher } from '../../src/config/path-template.js';
import { LAB_TENANT_TEMPLATES } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import { createContainStep, type ContainStepOptions } from '../../src/respond/steps/contain.step.js';
import type { StepContext } from '../../src/playbook/step.js';
import { Store } from '../../src/store/store.js';
import { startPlainBaoServer, type PlainBaoServer } from '../harness/bao-server.js';

const paths = LAB_TENANT_TEMPLATES.map(mustParsePathTemplate);

/**
 * The tripwire in `assess`, on an OpenBao whose file audit device has the defaults an operator gets
 * (accessors HMAC'd): containment records the revoked accessors as that device writes them, and
 * the revoked token's later, refused call (logged with no accessor) is a critical finding.
 */
describe('tripwire: containment, then the revoked token is used, then assess', () => {
  let bao: PlainBaoServer;
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    bao = await startPlainBaoServer();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-tripwire-'));
    store = await Store.open(join(dir, 'sealwatch.db'));
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await bao?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds revoked-token-use for the revoked token only, with its HMAC’d accessor', async () => {
    const vault = bao.client();
    const since = new Date();
    const leaked = await vault.tokenCreate({ policies: ['default'], ttl: '1h' });
    const quiet = await vault.tokenCreate({ policies: ['default'], ttl: '1h' });
    await vault.tokenLookupSelf(leaked.client_token);
    await vault.tokenLookupSelf(quiet.client_token);
    const ctx: StepContext<ContainStepOptions> = {
      incidentId: 'inc-tripwire-assess',
      logger: silentLogger(),
      signal: new AbortController().signal,
      outputs: {},
      options: { containment: 'lockdown' },
      progress: () => undefined,
      sensitive: () => undefined,
    };
    await createContainStep({ vault, storeDir: dir, revokedAccessors: store.revokedAccessors }).run(ctx);
    const hashed = await vault.auditHash('file', leaked.accessor);
    const recorded = (await store.revokedAccessors.list()).map((r) => r.accessor);
    expect(recorded).toEqual(expect.arrayContaining([leaked.accessor, quiet.accessor, hashed]));

    // The leaked token is used again; the other revoked one is not.
    await expect(vault.tokenLookupSelf(leaked.client_token)).rejects.toThrow(/permission denied/);
    const pipeline = { store, matcher: new PathTemplateMatcher(paths), logger: silentLogger() };
    const ingested = await ingestAuditFiles([bao.auditFile], pipeline);
    expect(ingested.counts.events).toBeGreaterThan(10);

    const report = await assess(
      { since, until: new Date(Date.now() + 60_000), limit: 100_000 },
      {
        analysis: store.auditAnalysis,
        revoked: store.revokedAccessors,
        config: {
          tenancy: { paths, exclude: new Set(), source: undefined, widespreadThreshold: 10 },
          assess: {
            manyTenants: 3,
            loginBurstCount: 5,
            loginBurstWithinMs: 60_000,
            maxTokenTtlSeconds: 86_400,
            allowActors: [],
          },
        },
        logger: silentLogger(),
      },
    );
    const tripped = report.suspicious.filter((s) => s.rule === 'revoked-token-use');
    expect(tripped).toEqual([
      expect.objectContaining({ severity: 'critical', accessor: hashed, path: 'auth/token/lookup-self' }),
    ]);
    expect(report.rules.find((r) => r.id === 'revoked-token-use')?.events).toBe(1);
  }, 120_000);
});
