import type SQLite from 'better-sqlite3';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { AuditEvent, AuditEventType } from '../audit-event.js';
import { AUDIT_ROW_COLUMNS, toAuditRow, type AuditRowValues } from '../audit-row.js';
import type { Selectable } from 'kysely';
import { UsageError } from '../../errors.js';
import { toSortableUtc } from '../../util/time.js';
import { EVENT_KEY_INDEX } from '../migrations/0060-audit-event-key-index.migration.js';
import type { AuditEventTable, Database } from '../schema.js';

/** What the end of a bulk load did besides rebuilding indexes. */
export interface BulkLoadEnd {
  /** Events a load with a deferred event_key index let in although an earlier one had their key. */
  duplicates: number;
}

export interface InsertBatchResult {
  inserted: number;
  /**
   * Events whose event_key was already stored (or repeated within the batch). A bulk load that
   * deferred the event_key index finds them at its end instead (BulkLoadEnd).
   */
  duplicates: number;
}

/** Where `audit follow` stopped in one file. */
export interface AuditCheckpoint {
  source: string;
  inode: string;
  /** Byte offset just after the last committed line. */
  offset: number;
  /** Number of the last committed line (1-based). */
  line: number;
}

export interface AuditEventFilter {
  /** ISO-8601 bounds, inclusive; compared as stored times (nine fraction digits, UTC). */
  since?: string;
  until?: string;
  pathPrefix?: string;
  operation?: string;
  accessor?: string;
  remoteAddress?: string;
  tenant?: string;
  type?: AuditEventType;
  errorsOnly?: boolean;
  /** Default 1000. */
  limit?: number;
}

export interface StoredAuditEvent extends AuditEvent {
  id: number;
}

function sortableTime(value: string): string {
  const time = toSortableUtc(value);
  if (time === undefined) throw new UsageError(`audit query: "${value}" is not an ISO-8601 time`);
  return time;
}

type Row = Omit<AuditEventTable, 'id'>;

const COLUMNS = AUDIT_ROW_COLUMNS satisfies readonly (keyof Row)[];

const INSERT_SQL = `INSERT INTO audit_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;

const DEFERRED_INDEXES_KEY = 'audit_events.deferred_indexes';

/** Every event whose event_key an event stored before it has: what ON CONFLICT DO NOTHING skips. */
const DELETE_LATER_DUPLICATES = `
  DELETE FROM audit_events WHERE id IN (
    SELECT id FROM (
      SELECT id, event_key, lag(event_key) OVER (ORDER BY event_key, id) AS previous FROM audit_events
    ) WHERE event_key = previous)`;

/** Events per transaction during a bulk load (see beginBulkLoad). */
const BULK_ROWS_PER_TRANSACTION = 64_000;

/** Page cache during a bulk load: the pages a transaction dirties (the event_key index's above all). */
const BULK_CACHE_KIB = 40 * 1024;

/**
 * Page cache while deferred indexes are rebuilt: it bounds each sort run, and small runs that stay
 * in the CPU's caches, merged, sort a million rows faster than one big run does (measured: 2 MiB
 * takes two thirds of the time of 40 MiB).
 */
const INDEX_BUILD_CACHE_KIB = 2 * 1024;

/** WAL size at which a bulk load lets SQLite checkpoint: rarely, as each checkpoint syncs. */
const BULK_WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;

/** The first column of a CREATE INDEX statement, unquoted. */
function leadingColumn(definition: string): string | undefined {
  return /\(\s*"?([^",)\s]+)"?/.exec(definition)?.[1];
}

/** PostgreSQL takes at most 65535 parameters per statement. */
const PG_ROWS_PER_STATEMENT = Math.floor(60_000 / COLUMNS.length);

function toRowObject(values: AuditRowValues): Row {
  const row: Record<string, unknown> = {};
  COLUMNS.forEach((column, i) => (row[column] = values[i]));
  return row as Row;
}

function fromRow(r: Selectable<AuditEventTable>): StoredAuditEvent {
  return {
    id: Number(r.id),
    event_key: r.event_key,
    time: r.time,
    type: r.type as AuditEventType,
    request_id: r.request_id,
    operation: r.operation,
    path: r.path,
    mount_point: r.mount_point,
    mount_type: r.mount_type,
    namespace: r.namespace,
    remote_address: r.remote_address,
    remote_port: r.remote_port === null ? null : Number(r.remote_port),
    accessor: r.accessor,
    accessor_hmac: Number(r.accessor_hmac) === 1,
    display_name: r.display_name,
    policies: JSON.parse(r.policies) as string[],
    entity_id: r.entity_id,
    token_type: r.token_type,
    metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, string>),
    error: r.error,
    wrap_info: r.wrap_info === null ? null : (JSON.parse(r.wrap_info) as Record<string, unknown>),
    tenant: r.tenant,
    hmac_values: r.hmac_values,
    source: r.source,
    issued_token_ttl: r.issued_token_ttl === null ? null : Number(r.issued_token_ttl),
  };
}

/**
 * The audit event store. Ingestion is the hot path (millions of lines after an incident), so on
 * SQLite it bypasses Kysely: one prepared statement, one transaction per batch. PostgreSQL gets
 * multi-row inserts. Both deduplicate on event_key, so overlapping files, a file and a socket
 * device of the same server, or a re-run ingest store each event once.
 */
export class AuditEventRepository {
  private sqliteInsert: SQLite.Statement | undefined;
  /** The plain INSERT of a bulk load that deferred the event_key index (no conflict to detect). */
  private sqliteAppend: SQLite.Statement | undefined;
  /** Set while a bulk load has dropped EVENT_KEY_INDEX: duplicates go in, and out again at its end. */
  private uniqueDeferred = false;
  private sqliteCheckpoint: SQLite.Statement | undefined;
  /** Set during a bulk load on SQLite: events written since its open transaction began. */
  private bulk: { uncommitted: number } | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly sqlite: SQLite.Database | undefined,
  ) {}

  /**
   * Inserts a batch in one transaction; with a checkpoint, saves it in the same transaction so a
   * crash can never keep the events but lose the position (or the other way round).
   */
  async insertBatch(
    events: readonly AuditEvent[],
    options: { checkpoint?: AuditCheckpoint } = {},
  ): Promise<InsertBatchResult> {
    return this.insertRows(events.map(toAuditRow), options);
  }

  /** insertBatch for events already turned into row values (see toAuditRow). */
  async insertRows(
    rows: readonly AuditRowValues[],
    options: {
      checkpoint?: AuditCheckpoint;
      /**
       * Receives the rows newly stored (not the duplicates), in order: what live detection
       * evaluates, so an event that reached watch twice (socket and file) is judged once.
       */
      stored?: AuditRowValues[];
    } = {},
  ): Promise<InsertBatchResult> {
    if (this.sqlite) return this.insertRowsSqlite(this.sqlite, rows, options.checkpoint, options.stored);
    return this.db.transaction().execute(async (tx) => {
      let inserted = 0;
      for (let start = 0; start < rows.length; start += PG_ROWS_PER_STATEMENT) {
        const chunk = rows.slice(start, start + PG_ROWS_PER_STATEMENT);
        const query = tx
          .insertInto('audit_events')
          .values(chunk.map(toRowObject))
          .onConflict((oc) => oc.column('event_key').doNothing());
        if (options.stored) {
          const keys = new Set((await query.returning('event_key').execute()).map((r) => r.event_key));
          inserted += keys.size;
          for (const row of chunk) if (keys.delete(row[0])) options.stored.push(row);
          continue;
        }
        const result = await query.executeTakeFirst();
        inserted += Number(result.numInsertedOrUpdatedRows ?? 0n);
      }
      if (options.checkpoint) await this.saveCheckpoint(tx, options.checkpoint);
      return { inserted, duplicates: rows.length - inserted };
    });
  }

  private insertRowsSqlite(
    handle: SQLite.Database,
    rows: readonly AuditRowValues[],
    checkpoint: AuditCheckpoint | undefined,
    stored?: AuditRowValues[],
  ): InsertBatchResult {
    const insert = this.uniqueDeferred
      ? (this.sqliteAppend ??= handle.prepare(INSERT_SQL))
      : (this.sqliteInsert ??= handle.prepare(`${INSERT_SQL} ON CONFLICT (event_key) DO NOTHING`));
    this.sqliteCheckpoint ??= handle.prepare(
      `INSERT INTO audit_checkpoints (source, inode, "offset", line, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (source) DO UPDATE SET inode = excluded.inode, "offset" = excluded."offset", line = excluded.line, updated_at = excluded.updated_at`,
    );
    const saveCheckpoint = this.sqliteCheckpoint;
    if (this.bulk && !checkpoint && !stored) return this.insertRowsBulk(handle, insert, this.bulk, rows);
    if (this.bulk && handle.inTransaction) this.commitBulk(handle, this.bulk);
    const run = handle.transaction(() => {
      let inserted = 0;
      // Spread, not an array argument: better-sqlite3 binds positional arguments fastest.
      if (stored)
        for (const row of rows) {
          const changes = insert.run(...row).changes;
          inserted += changes;
          if (changes > 0) stored.push(row);
        }
      else for (const row of rows) inserted += insert.run(...row).changes;
      if (checkpoint)
        saveCheckpoint.run(
          checkpoint.source,
          checkpoint.inode,
          checkpoint.offset,
          checkpoint.line,
          new Date().toISOString(),
        );
      return inserted;
    });
    const inserted = run.immediate();
    return { inserted, duplicates: rows.length - inserted };
  }

  /**
   * Inserts into the bulk load's open transaction, committing it every BULK_ROWS_PER_TRANSACTION
   * events. A failure rolls back what the open transaction held and ends the load with it.
   */
  private insertRowsBulk(
    handle: SQLite.Database,
    insert: SQLite.Statement,
    bulk: { uncommitted: number },
    rows: readonly AuditRowValues[],
  ): InsertBatchResult {
    if (!handle.inTransaction) handle.exec('BEGIN IMMEDIATE');
    let inserted = 0;
    try {
      for (const row of rows) inserted += insert.run(...row).changes;
    } catch (error) {
      if (handle.inTransaction) handle.exec('ROLLBACK');
      bulk.uncommitted = 0;
      throw error;
    }
    bulk.uncommitted += rows.length;
    if (bulk.uncommitted >= BULK_ROWS_PER_TRANSACTION) this.commitBulk(handle, bulk);
    return { inserted, duplicates: rows.length - inserted };
  }

  private commitBulk(handle: SQLite.Database, bulk: { uncommitted: number }): void {
    if (handle.inTransaction) handle.exec('COMMIT');
    bulk.uncommitted = 0;
  }

  async query(filter: AuditEventFilter = {}): Promise<StoredAuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (filter.since) q = q.where('time', '>=', sortableTime(filter.since));
    if (filter.until) q = q.where('time', '<=', sortableTime(filter.until));
    if (filter.operation) q = q.where('operation', '=', filter.operation);
    if (filter.accessor) q = q.where('accessor', '=', filter.accessor);
    if (filter.remoteAddress) q = q.where('remote_address', '=', filter.remoteAddress);
    if (filter.tenant) q = q.where('tenant', '=', filter.tenant);
    if (filter.type) q = q.where('type', '=', filter.type);
    if (filter.errorsOnly) q = q.where('error', 'is not', null);
    if (filter.pathPrefix) {
      const prefix = filter.pathPrefix.replace(/^\/+/, '');
      // Case-sensitive on both databases (SQLite's LIKE is not); substr needs no escaping of % and _.
      q = q.where(sql<boolean>`substr(path, 1, ${prefix.length}) = ${prefix}`);
    }
    const rows = await q
      .orderBy('time')
      .orderBy('id')
      .limit(filter.limit ?? 1000)
      .execute();
    return rows.map(fromRow);
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * How fresh the store is: the time of the newest event stored and when `audit follow` last
   * advanced a checkpoint (either undefined when there is none). A follower that stopped leaves both
   * behind while the server keeps writing its log.
   */
  async ingestFreshness(): Promise<{ newestEvent: string | undefined; lastCheckpoint: string | undefined }> {
    const [event, checkpoint] = await Promise.all([
      this.db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.max('time').as('newest'))
        .executeTakeFirst(),
      this.db
        .selectFrom('audit_checkpoints')
        .select((eb) => eb.fn.max('updated_at').as('newest'))
        .executeTakeFirst(),
    ]);
    return { newestEvent: event?.newest ?? undefined, lastCheckpoint: checkpoint?.newest ?? undefined };
  }

  async getCheckpoint(source: string): Promise<AuditCheckpoint | undefined> {
    const row = await this.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('source', '=', source)
      .executeTakeFirst();
    if (!row) return undefined;
    return { source: row.source, inode: row.inode, offset: Number(row.offset), line: Number(row.line) };
  }

  async setCheckpoint(checkpoint: AuditCheckpoint): Promise<void> {
    await this.saveCheckpoint(this.db, checkpoint);
  }

  private async saveCheckpoint(
    db: Kysely<Database> | Transaction<Database>,
    c: AuditCheckpoint,
  ): Promise<void> {
    const updated_at = new Date().toISOString();
    await db
      .insertInto('audit_checkpoints')
      .values({ source: c.source, inode: c.inode, offset: c.offset, line: c.line, updated_at })
      .onConflict((oc) =>
        oc.column('source').doUpdateSet({ inode: c.inode, offset: c.offset, line: c.line, updated_at }),
      )
      .execute();
  }

  /**
   * Prepares SQLite for a bulk load and returns the function that ends it (a no-op on PostgreSQL).
   * Durability is untouched (WAL, synchronous=NORMAL): only connection-level knobs move.
   * - With `longTransactions` (large inputs, a caller that is the store's only user meanwhile:
   *   the transaction stays open across awaits), events go into one open transaction committed
   *   every BULK_ROWS_PER_TRANSACTION events, not one per batch: the unique event_key index (when
   *   it stays, see below) is hit at random, and each commit writes every index page touched since
   *   the last one to the WAL again. A crash loses at most that transaction, which a re-run stores
   *   (duplicates are found by event_key).
   * - A bigger page cache holds those pages between commits; rarer WAL checkpoints mean fewer
   *   fsyncs; the sorter may use a second thread to build indexes.
   * - Into an empty table, the indexes are dropped and rebuilt at the end: building an index over
   *   a finished table is one sort, while keeping it up to date row by row is millions of random
   *   B-tree writes. That includes the unique event_key index (EVENT_KEY_INDEX): meanwhile events
   *   are appended without a conflict check, and before the index is built again the rows whose
   *   key an earlier row has are deleted, so the first one stored wins as ON CONFLICT DO NOTHING
   *   would have it; the end function returns how many. Indexes led by `time` stay: audit logs
   *   arrive in time order, so they only ever grow at their right edge, and each rebuilt index
   *   costs a scan of the table. The definitions are read from the schema (whatever migrations
   *   created) and parked in sealwatch_meta first, so a crash before the rebuild is repaired
   *   (duplicates included) when the store next opens.
   */
  async beginBulkLoad(options: { longTransactions?: boolean } = {}): Promise<() => Promise<BulkLoadEnd>> {
    const handle = this.sqlite;
    if (!handle) return async () => ({ duplicates: 0 });
    const saved = {
      cache_size: handle.pragma('cache_size', { simple: true }) as number,
      wal_autocheckpoint: handle.pragma('wal_autocheckpoint', { simple: true }) as number,
      threads: handle.pragma('threads', { simple: true }) as number,
    };
    handle.pragma(`cache_size = -${BULK_CACHE_KIB}`);
    const pageBytes = handle.pragma('page_size', { simple: true }) as number;
    handle.pragma(`wal_autocheckpoint = ${Math.ceil(BULK_WAL_CHECKPOINT_BYTES / pageBytes)}`);
    handle.pragma('threads = 2');
    const deferred = this.deferIndexes(handle);
    const bulk = { uncommitted: 0 };
    if (options.longTransactions) this.bulk = bulk;
    return async () => {
      try {
        this.bulk = undefined;
        this.commitBulk(handle, bulk);
        const duplicates = deferred ? await this.restoreDeferredIndexes() : 0;
        handle.pragma('wal_checkpoint(TRUNCATE)');
        return { duplicates };
      } finally {
        for (const [name, value] of Object.entries(saved)) handle.pragma(`${name} = ${value}`);
      }
    };
  }

  private deferIndexes(handle: SQLite.Database): boolean {
    if (handle.prepare('SELECT 1 FROM audit_events LIMIT 1').get() !== undefined) return false;
    const indexes = (
      handle
        .prepare(
          "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL",
        )
        .all() as { name: string; sql: string }[]
    ).filter((index) => leadingColumn(index.sql) !== 'time');
    if (indexes.length === 0) return false;
    handle.transaction(() => {
      handle
        .prepare(
          'INSERT INTO sealwatch_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(DEFERRED_INDEXES_KEY, JSON.stringify(indexes));
      for (const { name } of indexes) handle.exec(`DROP INDEX IF EXISTS "${name.replace(/"/g, '""')}"`);
    })();
    this.uniqueDeferred = indexes.some((index) => index.name === EVENT_KEY_INDEX);
    return true;
  }

  /**
   * Rebuilds indexes a bulk load deferred, including after a crash that skipped the rebuild, and
   * returns how many duplicate events it removed to rebuild the unique event_key index. That one
   * goes first: the other indexes then cover only the events kept.
   */
  async restoreDeferredIndexes(): Promise<number> {
    const handle = this.sqlite;
    if (!handle) return 0;
    const row = handle.prepare('SELECT value FROM sealwatch_meta WHERE key = ?').get(DEFERRED_INDEXES_KEY) as
      { value: string } | undefined;
    if (!row) return 0;
    const indexes = (JSON.parse(row.value) as { name: string; sql: string }[]).sort(
      (a, b) => Number(b.name === EVENT_KEY_INDEX) - Number(a.name === EVENT_KEY_INDEX),
    );
    const cacheSize = handle.pragma('cache_size', { simple: true }) as number;
    handle.pragma(`cache_size = -${INDEX_BUILD_CACHE_KIB}`);
    try {
      const duplicates = handle.transaction(() => {
        let removed = 0;
        for (const { name, sql: definition } of indexes) {
          const create = () =>
            handle.exec(definition.replace(/^CREATE (UNIQUE )?INDEX /i, (m) => `${m}IF NOT EXISTS `));
          if (name !== EVENT_KEY_INDEX) create();
          else
            try {
              // Usually there is nothing to remove: one sort, the index's own.
              create();
            } catch (error) {
              if ((error as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw error;
              removed = handle.prepare(DELETE_LATER_DUPLICATES).run().changes;
              create();
            }
        }
        handle.prepare('DELETE FROM sealwatch_meta WHERE key = ?').run(DEFERRED_INDEXES_KEY);
        return removed;
      })();
      this.uniqueDeferred = false;
      return duplicates;
    } finally {
      handle.pragma(`cache_size = ${cacheSize}`);
    }
  }
}
