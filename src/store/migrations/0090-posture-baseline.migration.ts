import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * `posture baseline`: the findings of one posture run, kept so that `posture diff` can say what is
 * new, fixed or changed since. Findings are JSON (ids, titles, evidence: never a secret).
 */
export function postureBaselineMigration({ idColumn }: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await idColumn(db.schema.createTable('posture_baselines'))
        .addColumn('taken_at', 'text', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('findings', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('posture_baselines_server')
        .on('posture_baselines')
        .columns(['server', 'taken_at'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('posture_baselines').execute();
    },
  };
}
