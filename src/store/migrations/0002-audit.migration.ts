import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/** The audit event store: one row per request or response, deduplicated by event_key. */
export function auditMigration({ idColumn }: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await idColumn(db.schema.createTable('audit_events'))
        .addColumn('event_key', 'text', (c) => c.notNull().unique())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('operation', 'text')
        .addColumn('path', 'text')
        .addColumn('mount_point', 'text')
        .addColumn('mount_type', 'text')
        .addColumn('namespace', 'text')
        .addColumn('remote_address', 'text')
        .addColumn('remote_port', 'integer')
        .addColumn('accessor', 'text')
        .addColumn('accessor_hmac', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('display_name', 'text')
        .addColumn('policies', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('entity_id', 'text')
        .addColumn('token_type', 'text')
        .addColumn('metadata', 'text')
        .addColumn('error', 'text')
        .addColumn('wrap_info', 'text')
        .addColumn('tenant', 'text')
        .addColumn('hmac_values', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('source', 'text', (c) => c.notNull())
        .execute();
      for (const [name, columns] of [
        ['audit_events_time', ['time']],
        ['audit_events_path', ['path']],
        ['audit_events_accessor', ['accessor', 'time']],
        ['audit_events_remote', ['remote_address', 'time']],
        ['audit_events_tenant', ['tenant', 'time']],
        ['audit_events_request', ['request_id']],
      ] as const)
        await db.schema
          .createIndex(name)
          .on('audit_events')
          .columns([...columns])
          .execute();
      // Where `audit follow` stopped in each file: resumes without duplicating or skipping lines.
      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('source', 'text', (c) => c.primaryKey())
        .addColumn('inode', 'text', (c) => c.notNull())
        .addColumn('offset', 'bigint', (c) => c.notNull())
        .addColumn('line', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('audit_checkpoints').execute();
      await db.schema.dropTable('audit_events').execute();
    },
  };
}
