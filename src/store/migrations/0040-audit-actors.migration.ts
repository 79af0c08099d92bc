import type { Kysely } from 'kysely';
import { SUCCESSFUL_READ } from './0003-audit-analysis.migration.js';
import type { MigrationContext } from './index.js';

/** Columns of the successful-reads condition: repeated in its indexes, see below. */
const READ_CONDITION_COLUMNS = ['type', 'operation', 'error'] as const;

/**
 * Indexes shaped by what breach assessment asks of a day of events (a day of a busy cluster is a
 * million events, a third of them secret reads), so that it aggregates in index order without
 * reading the table or sorting:
 * - `audit_events_actor` (accessor, remote_address, display_name, time) replaces (accessor, time):
 *   an actor's summary (names, addresses, first and last seen) is one walk of the index in group
 *   order; the old index sent SQLite to the table for every event of every implicated token.
 * - the successful reads (the partial index `audit_events_reads`) are indexed twice instead, in the
 *   two orders assessment groups them: by path (`audit_events_path_reads`: each path read, whose
 *   tenant it was stored with, how often) and by accessor and tenant (`audit_events_accessor_reads`:
 *   which tenants each token read). Both carry the stored tenant, so the tenants of a day's reads
 *   are counted in SQL whenever the templates configured now give the same tenants.
 * - `audit_events_request` (request_id) goes: nothing looks events up by request id (duplicates
 *   are found by the unique event_key, which embeds it).
 * The condition's own columns are repeated in the partial indexes (constant within them) because
 * SQLite counts an index as covering only then.
 */
export function auditActorsMigration(_context: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_request').ifExists().execute();
      await db.schema.dropIndex('audit_events_accessor').ifExists().execute();
      await db.schema.dropIndex('audit_events_reads').ifExists().execute();
      await db.schema
        .createIndex('audit_events_actor')
        .on('audit_events')
        .columns(['accessor', 'remote_address', 'display_name', 'time'])
        .execute();
      await db.schema
        .createIndex('audit_events_path_reads')
        .on('audit_events')
        .columns([
          'path',
          'accessor',
          'tenant',
          'time',
          'mount_point',
          'mount_type',
          ...READ_CONDITION_COLUMNS,
        ])
        .where(SUCCESSFUL_READ)
        .execute();
      await db.schema
        .createIndex('audit_events_accessor_reads')
        .on('audit_events')
        .columns(['accessor', 'tenant', 'path', 'time', ...READ_CONDITION_COLUMNS])
        .where(SUCCESSFUL_READ)
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_accessor_reads').execute();
      await db.schema.dropIndex('audit_events_path_reads').execute();
      await db.schema.dropIndex('audit_events_actor').execute();
      await db.schema
        .createIndex('audit_events_reads')
        .on('audit_events')
        .columns(['accessor', 'path', 'time', 'mount_point', 'mount_type', ...READ_CONDITION_COLUMNS])
        .where(SUCCESSFUL_READ)
        .execute();
      await db.schema
        .createIndex('audit_events_accessor')
        .on('audit_events')
        .columns(['accessor', 'time'])
        .execute();
      await db.schema
        .createIndex('audit_events_request')
        .on('audit_events')
        .columns(['request_id'])
        .execute();
    },
  };
}
