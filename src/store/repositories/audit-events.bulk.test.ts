import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRowValues } from '../audit-row.js';
import { EVENT_KEY_INDEX } from '../migrations/0060-audit-event-key-index.migration.js';
import { Store } from '../store.js';

/**
 * A bulk load into an empty SQLite store drops the unique event_key index and lets duplicates in;
 * its end (or, after a crash, the next open of the store) removes them, first stored wins, and
 * builds the index again.
 */
function row(requestId: string, source: string, time = '2026-03-01T00:00:00.000000000Z'): AuditRowValues {
  return [
    `${requestId}:response`,
    time,
    'response',
    requestId,
    'read',
    'secret/data/tenants/tenant-0001/smtp',
    'secret/',
    'kv',
    'root',
    '10.0.0.1',
    50000,
    'acc-1',
    0,
    'approle',
    '["default"]',
    null,
    'service',
    null,
    null,
    null,
    'tenant-0001',
    '',
    source,
    null,
    null,
  ];
}

describe('bulk loads into an empty SQLite store', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'sealwatch-bulk-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const indexes = (store: Store) =>
    (
      store
        .sqlite!.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events'")
        .all() as { name: string }[]
    ).map((r) => r.name);

  const stored = async (store: Store) =>
    (await store.auditEvents.query({ limit: 100 })).map((e) => [e.request_id, e.source]);

  it('defer the event_key index, then remove the duplicates the load let in, the first one kept', async () => {
    const store = await Store.open(join(dir, 'load.db'));
    try {
      const end = await store.auditEvents.beginBulkLoad({ longTransactions: true });
      expect(indexes(store)).not.toContain(EVENT_KEY_INDEX);
      await store.auditEvents.insertRows([row('a', 'first'), row('b', 'first'), row('a', 'second')]);
      await store.auditEvents.insertRows([row('b', 'second'), row('c', 'second'), row('a', 'third')]);
      expect(await store.auditEvents.count()).toBe(6);
      expect(await end()).toEqual({ duplicates: 3 });
      expect(indexes(store)).toContain(EVENT_KEY_INDEX);
      expect(await stored(store)).toEqual([
        ['a', 'first'],
        ['b', 'first'],
        ['c', 'second'],
      ]);
      // The store is not empty now: the next load keeps the index and skips duplicates as it goes.
      const next = await store.auditEvents.beginBulkLoad();
      expect(indexes(store)).toContain(EVENT_KEY_INDEX);
      expect(await store.auditEvents.insertRows([row('a', 'fourth'), row('d', 'fourth')])).toEqual({
        inserted: 1,
        duplicates: 1,
      });
      expect(await next()).toEqual({ duplicates: 0 });
      expect(await store.auditEvents.count()).toBe(4);
    } finally {
      await store.close();
    }
  });

  it('are repaired, duplicates included, when the store next opens after a crash mid-load', async () => {
    const file = join(dir, 'crash.db');
    const crashed = await Store.open(file);
    await crashed.auditEvents.beginBulkLoad({ longTransactions: true });
    await crashed.auditEvents.insertRows([row('a', 'first'), row('a', 'second'), row('b', 'second')]);
    // The open transaction is lost with the process; commit it here so that duplicates remain.
    crashed.sqlite!.exec('COMMIT');
    await crashed.close();

    const store = await Store.open(file);
    try {
      expect(indexes(store)).toContain(EVENT_KEY_INDEX);
      expect(await stored(store)).toEqual([
        ['a', 'first'],
        ['b', 'second'],
      ]);
      await store.auditEvents.insertRows([row('b', 'again')]);
      expect(await store.auditEvents.count()).toBe(2);
    } finally {
      await store.close();
    }
  });
});
