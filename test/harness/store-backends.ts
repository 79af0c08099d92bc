import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Store } from '../../src/store/store.js';
import { startPostgres } from './postgres.js';

export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty store location and how to remove it (and stop its server). */
  open: () => Promise<{ url: string; cleanup: () => Promise<void> }>;
}

/**
 * The two stores every storage suite runs on: a SQLite file in a temp folder (`nested`: one level
 * below it, so the store must create its folder) and a real PostgreSQL server of its own.
 */
export function storeBackends(prefix: string, options: { nested?: boolean } = {}): StoreBackend[] {
  return [
    {
      name: 'sqlite',
      open: async () => {
        const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
        return {
          url: options.nested ? join(dir, 'nested', 'sealwatch.db') : join(dir, 'sealwatch.db'),
          cleanup: async () => rmSync(dir, { recursive: true, force: true }),
        };
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
}

/**
 * A fresh store on `backend` for the tests of the surrounding describe: opened in beforeAll (within
 * `timeoutMs`), closed and removed in afterAll. The returned function is the open store.
 */
export function suiteStore(backend: StoreBackend, timeoutMs = 60_000): () => Store {
  let store: Store | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const opened = await backend.open();
    cleanup = opened.cleanup;
    store = await Store.open(opened.url);
  }, timeoutMs);
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });
  return () => {
    if (!store)
      throw new Error(`the ${backend.name} store is not open (its beforeAll failed or has not run)`);
    return store;
  };
}
