import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * audit_events_path (path) becomes (path, type, operation): assessment's "changes under sys/" looks
 * for writes among every event under a prefix, and on a busy day sys/ holds tens of thousands of
 * reads (token lookups, capabilities, lease renewals) and no write at all. With the kind of call
 * in the index those are skipped there, not fetched from the table one by one to be dropped.
 */
export function auditPathKindMigration(_context: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_path').ifExists().execute();
      await db.schema
        .createIndex('audit_events_path')
        .on('audit_events')
        .columns(['path', 'type', 'operation'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_path').execute();
      await db.schema.createIndex('audit_events_path').on('audit_events').column('path').execute();
    },
  };
}
