import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assess } from '../../src/assess/assess.service.js';
import { LAB_TENANT_TEMPLATES } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import { Store } from '../../src/store/store.js';
import { mustParsePathTemplate } from '../../src/config/path-template.js';
import { generateDay, type SyntheticDay } from '../harness/audit-fixtures.js';

/**
 * Correctness at scale: the attacker is found among busy applications in a large store. How fast
 * (1,000,000 events in under 2 s) is measured by `npm run bench -- ingest`, not here: a timed test
 * on a shared two-core machine says more about the neighbours than about sealwatch.
 */
const EVENTS = Number(process.env['SEALWATCH_ASSESS_EVENTS'] ?? 200_000);

const config = {
  tenancy: {
    paths: LAB_TENANT_TEMPLATES.map(mustParsePathTemplate),
    exclude: new Set(['test-tenant-id']),
    source: undefined,
    widespreadThreshold: 10,
  },
  assess: {
    manyTenants: 3,
    loginBurstCount: 5,
    loginBurstWithinMs: 5 * 60_000,
    maxTokenTtlSeconds: 86_400,
    allowActors: [],
  },
};

describe(`assess over ${EVENTS} events`, () => {
  let dir: string;
  let store: Store;
  let day: SyntheticDay;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-assess-scale-'));
    store = await Store.open(join(dir, 'sealwatch.db'));
    day = generateDay(store, { events: EVENTS });
    store.sqlite!.exec('ANALYZE');
  }, 300_000);
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the attacker among the applications, examining every event', async () => {
    const result = await assess(
      { since: day.start, until: new Date(day.start.getTime() + 86_400_000) },
      { analysis: store.auditAnalysis, config, logger: silentLogger() },
    );
    expect(result.events_examined).toBeGreaterThanOrEqual(EVENTS - 2);
    expect(result.actors.find((a) => a.accessor === 'evil')?.tenants).toEqual(day.attackerTenants);
  });
});
