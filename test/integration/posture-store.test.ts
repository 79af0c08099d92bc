import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { auditRow, insertRows } from '../harness/audit-fixtures.js';
import { storeBackends } from '../harness/store-backends.js';

/** What posture keeps and reads in the store, on SQLite and a real PostgreSQL server. */
const backends = storeBackends('sealwatch-posture-store');

describe.each(backends)('posture store on $name', ({ open }) => {
  let store: Store;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    let url: string;
    ({ url, cleanup } = await open());
    store = await Store.open(url);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('keeps baselines per server and answers the newest', async () => {
    expect(await store.postureBaselines.latest('cluster-a')).toBeUndefined();
    const first = await store.postureBaselines.save({
      taken_at: '2026-12-01T00:00:00.000Z',
      server: 'cluster-a',
      findings: '[{"id":"seal:single-share"}]',
    });
    const second = await store.postureBaselines.save({
      taken_at: '2026-12-02T00:00:00.000Z',
      server: 'cluster-a',
      findings: '[]',
    });
    await store.postureBaselines.save({
      taken_at: '2026-12-03T00:00:00.000Z',
      server: 'cluster-b',
      findings: '[1]',
    });
    expect(second).toBeGreaterThan(first);
    expect(await store.postureBaselines.latest('cluster-a')).toEqual({
      id: second,
      taken_at: '2026-12-02T00:00:00.000Z',
      server: 'cluster-a',
      findings: '[]',
    });
  });

  it('says how fresh the audit store is: nothing, then the newest event and checkpoint', async () => {
    expect(await store.auditEvents.ingestFreshness()).toEqual({
      newestEvent: undefined,
      lastCheckpoint: undefined,
    });
    await insertRows(store, [
      auditRow({ time: '2026-12-01T10:00:00.000000000Z' }),
      auditRow({ time: '2026-12-01T11:00:00.000000000Z' }),
    ]);
    await store.auditEvents.setCheckpoint({ source: '/var/log/audit.log', inode: '1', offset: 10, line: 2 });
    const fresh = await store.auditEvents.ingestFreshness();
    expect(fresh.newestEvent).toBe('2026-12-01T11:00:00.000000000Z');
    expect(Date.now() - Date.parse(fresh.lastCheckpoint!)).toBeLessThan(60_000);
  });
});
