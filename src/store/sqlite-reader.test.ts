import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteReader } from './sqlite-reader.js';
import { Store } from './store.js';

describe('SqliteReader', () => {
  let dir: string;
  let store: Store;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-reader-'));
    store = await Store.open(join(dir, 'store.db'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a compiled query in its thread with the rows Kysely returns, committed writes included', async () => {
    await store.db
      .insertInto('posture_baselines')
      .values([
        { taken_at: '2026-12-01T00:00:00.000Z', server: 'a', findings: '[]' },
        { taken_at: '2026-12-02T00:00:00.000Z', server: 'b', findings: '[1]' },
      ])
      .execute();
    const query = store.db
      .selectFrom('posture_baselines')
      .where('taken_at', '>=', '2026-12-01T12:00:00.000Z')
      .select(['server', 'findings', sql<number>`count(*) over ()`.as('n')]);
    const reader = new SqliteReader(join(dir, 'store.db'));
    try {
      const rows = await reader.all(query.compile());
      expect(rows).toEqual([{ server: 'b', findings: '[1]', n: 1 }]);
      expect(rows).toEqual(await query.execute());
    } finally {
      await reader.close();
    }
  });

  it('rejects a query the database refuses with its message, and keeps answering', async () => {
    const reader = new SqliteReader(join(dir, 'store.db'));
    try {
      await expect(reader.all(sql`select nope from nowhere`.compile(store.db))).rejects.toThrow(
        /no such table: nowhere/,
      );
      const rows = await reader.all(sql<{ one: number }>`select 1 as one`.compile(store.db));
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await reader.close();
    }
  });

  it('rejects every query when the file cannot be opened, naming why', async () => {
    const reader = new SqliteReader(join(dir, 'missing.db'));
    try {
      await expect(reader.all(sql`select 1`.compile(store.db))).rejects.toThrow(
        /unable to open|does not exist/i,
      );
      await expect(reader.all(sql`select 1`.compile(store.db))).rejects.toThrow();
    } finally {
      await reader.close();
    }
  });
});
