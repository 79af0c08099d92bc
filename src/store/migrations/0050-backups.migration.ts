import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * Raft snapshots taken by `backup snapshot` (where the file is, its SHA-256, where it came from and
 * a baseline to verify a restore against — counts and KV versions, never a secret value) and every
 * `backup verify` drill run on a snapshot file, so a recovery can pick the newest verified one.
 */
export function backupsMigration({ dialect, idColumn }: MigrationContext) {
  // Snapshots of large clusters pass 2 GiB: PostgreSQL's integer does not hold that.
  const bytesType = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('backups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('taken_at', 'text', (c) => c.notNull())
        .addColumn('file', 'text', (c) => c.notNull())
        .addColumn('bytes', bytesType, (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('cluster_name', 'text')
        .addColumn('cluster_id', 'text')
        .addColumn('leader_address', 'text')
        .addColumn('server_flavor', 'text', (c) => c.notNull())
        .addColumn('server_version', 'text', (c) => c.notNull())
        .addColumn('key_shares', 'integer')
        .addColumn('key_threshold', 'integer')
        .addColumn('baseline', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('backups_sha256').on('backups').columns(['sha256']).execute();
      await db.schema.createIndex('backups_taken').on('backups').columns(['taken_at']).execute();
      await idColumn(db.schema.createTable('backup_verifications'))
        .addColumn('backup_id', 'text', (c) => c.references('backups.id'))
        .addColumn('file', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text', (c) => c.notNull())
        .addColumn('ok', 'integer', (c) => c.notNull())
        .addColumn('checks', 'text', (c) => c.notNull())
        .addColumn('seconds', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .execute();
      await db.schema
        .createIndex('backup_verifications_sha256')
        .on('backup_verifications')
        .columns(['sha256', 'ok'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('backup_verifications').execute();
      await db.schema.dropTable('backups').execute();
    },
  };
}
