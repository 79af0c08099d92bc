import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * The rotation journal: one row per run, one per secret. An item's row is written before and after
 * each phase (`in_phase` set, then `phase` advanced), so a resumed run knows exactly where each
 * secret stopped.
 */
export function rotationMigration({ idColumn }: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('rotation_runs')
        .addColumn('run_id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('selection', 'text', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('incident_id', 'text')
        .execute();
      await idColumn(db.schema.createTable('rotation_items'))
        .addColumn('run_id', 'text', (c) => c.notNull().references('rotation_runs.run_id'))
        .addColumn('tenant', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('in_phase', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('previous_version', 'integer')
        .addColumn('staged_version', 'integer')
        .addColumn('error', 'text')
        .addColumn('error_phase', 'text')
        .addColumn('retire_after', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('rotation_items_run_path', ['run_id', 'path'])
        .execute();
      await db.schema
        .createIndex('rotation_items_run_state')
        .on('rotation_items')
        .columns(['run_id', 'state'])
        .execute();
      // What was done to tenants besides replacing values (API keys revoked), one row per tenant and event.
      await idColumn(db.schema.createTable('rotation_records'))
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('tenant', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .addUniqueConstraint('rotation_records_once', ['run_id', 'tenant', 'event'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('rotation_records').execute();
      await db.schema.dropTable('rotation_items').execute();
      await db.schema.dropTable('rotation_runs').execute();
    },
  };
}
