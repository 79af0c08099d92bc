import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/** The unique index that deduplicates audit events, by name, so a bulk load can defer it. */
export const EVENT_KEY_INDEX = 'audit_events_event_key';

const INLINE_UNIQUE = '"event_key" text not null unique';

/**
 * On SQLite, audit_events' uniqueness of event_key moves from the column (an autoindex, which
 * only a table rebuild can drop) to the named index EVENT_KEY_INDEX. Event keys are request ids,
 * random: keeping their index up to date while a million events load rewrites most of its pages
 * in every transaction; a bulk load into an empty table now drops it like the other secondary
 * indexes, removes the duplicates it let in with one sort, and builds it again (see
 * AuditEventRepository.beginBulkLoad). PostgreSQL keeps its constraint: it has no such load path.
 *
 * The rebuild copies the rows under a savepoint, so it is all or nothing whether or not the
 * migrator runs it in a transaction; the table's other indexes are read from the schema and made
 * again as they were.
 */
export function auditEventKeyIndexMigration({ dialect }: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'sqlite') return;
      await rebuild(db, (definition) => {
        if (!definition.includes(INLINE_UNIQUE))
          throw new Error(`audit_events is not as migration 0002 made it: ${definition.slice(0, 120)}`);
        return definition.replace(INLINE_UNIQUE, '"event_key" text not null');
      });
      await db.schema.createIndex(EVENT_KEY_INDEX).on('audit_events').column('event_key').unique().execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'sqlite') return;
      await db.schema.dropIndex(EVENT_KEY_INDEX).execute();
      await rebuild(db, (definition) => definition.replace('"event_key" text not null', INLINE_UNIQUE));
    },
  };
}

async function rebuild(db: Kysely<unknown>, redefine: (definition: string) => string): Promise<void> {
  const { rows: table } = await sql<{ sql: string }>`
    SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'`.execute(db);
  const { rows: indexes } = await sql<{ sql: string }>`
    SELECT sql FROM sqlite_master
    WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL AND name <> ${EVENT_KEY_INDEX}`.execute(
    db,
  );
  const definition = redefine(table[0]!.sql).replace(
    /^CREATE TABLE "?audit_events"?/i,
    'CREATE TABLE "audit_events_rebuilt"',
  );
  await sql`SAVEPOINT audit_events_rebuild`.execute(db);
  try {
    await sql.raw(definition).execute(db);
    await sql`INSERT INTO audit_events_rebuilt SELECT * FROM audit_events`.execute(db);
    await sql`DROP TABLE audit_events`.execute(db);
    await sql`ALTER TABLE audit_events_rebuilt RENAME TO audit_events`.execute(db);
    for (const index of indexes) await sql.raw(index.sql).execute(db);
    await sql`RELEASE audit_events_rebuild`.execute(db);
  } catch (error) {
    await sql`ROLLBACK TO audit_events_rebuild`.execute(db);
    await sql`RELEASE audit_events_rebuild`.execute(db);
    throw error;
  }
}
