import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * node_observations gains the key-share count each node reported: a diagnosis that finds a node
 * initialised 1-of-1 calls it a temporary initialisation only when a different count is on record.
 */
export function nodeObservationSharesMigration(_context: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('node_observations').addColumn('key_shares', 'integer').execute();
      await db.schema.alterTable('node_observations').addColumn('key_threshold', 'integer').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('node_observations').dropColumn('key_threshold').execute();
      await db.schema.alterTable('node_observations').dropColumn('key_shares').execute();
    },
  };
}
