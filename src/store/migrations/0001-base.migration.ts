import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

export function baseMigration({ idColumn }: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('sealwatch_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await idColumn(db.schema.createTable('node_observations'))
        .addColumn('observed_at', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('reachable', 'integer', (c) => c.notNull())
        .addColumn('initialized', 'integer')
        .addColumn('sealed', 'integer')
        .addColumn('is_leader', 'integer', (c) => c.notNull())
        .addColumn('version', 'text')
        .addColumn('seal_type', 'text')
        .addColumn('error', 'text')
        .execute();
      await db.schema
        .createIndex('node_observations_address_time')
        .on('node_observations')
        .columns(['address', 'observed_at'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('node_observations').execute();
      await db.schema.dropTable('sealwatch_meta').execute();
    },
  };
}
