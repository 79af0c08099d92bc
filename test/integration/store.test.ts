import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, StoreError } from '../../src/store/store.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';

/** One storage suite, run against SQLite and a real PostgreSQL server. */
const backends: { name: string; open: () => Promise<{ url: string; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sealwatch-store-'));
      return { url: join(dir, 'nested', 'sealwatch.db'), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const pg = await startPostgres();
      return { url: pg.url, cleanup: () => pg.stop() };
    },
  },
];

describe.each(backends)('store on $name', ({ name, open }) => {
  let url: string;
  let cleanup: () => Promise<void>;
  let store: Store;

  beforeAll(async () => {
    ({ url, cleanup } = await open());
    store = await Store.open(url);
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('migrates to the latest schema and is idempotent on reopen', async () => {
    expect(store.dialect).toBe(name);
    const again = await Store.open(url);
    await again.close();
    const rows = await store.db
      .selectFrom('sealwatch_migrations' as never)
      .select('name' as never)
      .execute();
    expect(rows.length).toBeGreaterThanOrEqual(1);
  });

  it('records node observations and reads them back newest first', async () => {
    const a = 'http://127.0.0.1:8200';
    await store.observations.record([
      { observed_at: '2026-01-01T00:00:00.000Z', address: a, reachable: true, initialized: true, sealed: false, is_leader: true, version: '2.7.2', seal_type: 'shamir', error: null },
      { observed_at: '2026-01-01T00:01:00.000Z', address: a, reachable: true, initialized: true, sealed: true, is_leader: false, version: '2.7.2', seal_type: 'shamir', error: null },
      { observed_at: '2026-01-01T00:02:00.000Z', address: 'http://other', reachable: false, initialized: null, sealed: null, is_leader: false, version: null, seal_type: null, error: 'connection refused' },
    ]);
    const history = await store.observations.history(a);
    expect(history.map((h) => h.sealed)).toEqual([true, false]);
    expect(history[0]).toMatchObject({ reachable: true, is_leader: false, initialized: true });
    expect(await store.observations.lastUnsealedAt(a)).toBe('2026-01-01T00:00:00.000Z');
    const other = await store.observations.history('http://other');
    expect(other[0]).toMatchObject({ reachable: false, sealed: null, error: 'connection refused' });
  });
});

describe('store errors', () => {
  it('names the store and hides the password when PostgreSQL cannot be reached', async () => {
    const error = await Store.open('postgres://user:hunter2@127.0.0.1:1/db').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain('127.0.0.1:1');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('names the file when SQLite cannot open it', async () => {
    const error = await Store.open('/proc/no/such/dir/x.db').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain('/proc/no/such/dir/x.db');
  });
});

export type { TestPostgres };
