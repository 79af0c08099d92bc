import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { at, auditCall, insertRows } from '../harness/audit-fixtures.js';
import { storeBackends } from '../harness/store-backends.js';

/** The audit-store queries of posture's usage checks, on SQLite and a real PostgreSQL server. */
const backends = storeBackends('sealwatch-posture-usage');
const window = { since: at(0), until: at(60) };

describe.each(backends)('posture usage queries on $name', ({ open }) => {
  let store: Store;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    let url: string;
    ({ url, cleanup } = await open());
    store = await Store.open(url);
    const wrap = JSON.stringify({ ttl: 60, creation_path: 'auth/approle/role/ci/secret-id' });
    await insertRows(store, [
      // Secret IDs of role ci: one wrapped, one not; a failed issuance does not count.
      ...auditCall({
        time: at(1),
        operation: 'update',
        path: 'auth/approle/role/ci/secret-id',
        mount_point: 'auth/approle/',
        policies: ['root'],
      }),
      ...auditCall({
        time: at(2),
        operation: 'update',
        path: 'auth/approle/role/ci/secret-id',
        mount_point: 'auth/approle/',
        wrap_info: wrap,
        policies: ['root'],
      }),
      ...auditCall({
        time: at(3),
        operation: 'update',
        path: 'auth/approle/role/ci/secret-id',
        mount_point: 'auth/approle/',
        error: 'permission denied',
        policies: ['ops'],
      }),
      // Reads: a tenant path by role mailer (one wrapped), a dynamic credential by a user.
      ...auditCall({ time: at(4), tenant: 'acme', metadata: '{"role_name":"mailer"}' }),
      ...auditCall({ time: at(5), tenant: 'acme', metadata: '{"role_name":"mailer"}', wrap_info: wrap }),
      ...auditCall({
        time: at(6),
        path: 'database/creds/app',
        mount_point: 'database/',
        display_name: 'userpass-bob',
        policies: ['dba'],
      }),
      // Outside the window: a write to kv-old/ and a call with policy stale.
      ...auditCall({
        time: at(120),
        operation: 'update',
        path: 'kv-old/x',
        mount_point: 'kv-old/',
        policies: ['stale'],
      }),
      // A refused read does not make a mount used.
      ...auditCall({
        time: at(7),
        path: 'kv-refused/x',
        mount_point: 'kv-refused/',
        error: 'permission denied',
      }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('counts secret-ID issuances per role path, wrapped or not', async () => {
    expect(await store.postureUsage.secretIdIssuances(window)).toEqual([
      { path: 'auth/approle/role/ci/secret-id', wrapped: 1, unwrapped: 1, last_unwrapped: at(1) },
    ]);
  });

  it('counts sensitive reads per caller, wrapped or not', async () => {
    const reads = await store.postureUsage.sensitiveReads(window);
    const byCaller = (name: string) =>
      reads.find((r) => r.metadata?.['role_name'] === name || r.display_name === name);
    expect(byCaller('mailer')).toMatchObject({ wrapped: 1, unwrapped: 1 });
    expect(byCaller('userpass-bob')).toMatchObject({ wrapped: 0, unwrapped: 1 });
  });

  it('lists the policy sets of requests and the mounts used in the window', async () => {
    const sets = (await store.postureUsage.policySets(window)).map((s) => s.join(',')).sort();
    expect(sets).toEqual(['dba', 'default,mailer', 'ops', 'root']);
    const used = await store.postureUsage.usedMounts(window, [
      'secret/',
      'database/',
      'kv-old/',
      'kv-refused/',
      'auth/approle/',
    ]);
    expect([...used].sort()).toEqual(['auth/approle/', 'database/', 'secret/']);
  });
});
