import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';

/**
 * Page size of new SQLite stores. Audit events are wide rows (a few hundred bytes) written by the
 * million: 16 KiB pages halve the cost of appending them against SQLite's default 4 KiB (fewer
 * page splits and cell moves, fewer pages per WAL commit), and reads of the covering indexes that
 * assessment scans are cheaper too.
 */
const SQLITE_PAGE_BYTES = 16_384;

/**
 * Opens a connection to a SQLite store with the settings every connection uses (the store's own,
 * and the audit store worker's: see src/audit/store-thread.ts). Kept apart from store.ts so that
 * the worker loads the database driver without the configuration and migration modules.
 */
export function openSqliteConnection(file: string): SQLite.Database {
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true });
  const handle = new SQLite(file);
  // Takes effect on a new file only (before its first table); existing stores keep theirs.
  handle.pragma(`page_size = ${SQLITE_PAGE_BYTES}`);
  handle.pragma('journal_mode = WAL');
  handle.pragma('synchronous = NORMAL');
  handle.pragma('busy_timeout = 5000');
  handle.pragma('foreign_keys = ON');
  return handle;
}

/** The query builder over a connection opened by openSqliteConnection. */
export function sqliteKysely(handle: SQLite.Database): Kysely<Database> {
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
}
