import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * `watch` high availability, grouping and rate limits.
 * - `watch_leases`: one row per lease (`watch`): who holds it, its fencing epoch (raised at every
 *   change of holder) and its expiry in milliseconds of the database's clock, so instances on hosts
 *   with skewed clocks agree on when it ends.
 * - `alert_outbox.group_key`: notices of one group and channel that are due together leave as one
 *   message; `message_id` names the message a notice left in (what the per-channel rate limit counts).
 */
export function watchHaMigration(_context: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('watch_leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('epoch', 'bigint', (c) => c.notNull())
        .addColumn('acquired_at_ms', 'bigint', (c) => c.notNull())
        .addColumn('expires_at_ms', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('alert_outbox').addColumn('group_key', 'text').execute();
      await db.schema.alterTable('alert_outbox').addColumn('message_id', 'text').execute();
      await db.schema
        .createIndex('alert_outbox_sent')
        .on('alert_outbox')
        .columns(['channel', 'sent_at'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('alert_outbox_sent').execute();
      await db.schema.alterTable('alert_outbox').dropColumn('message_id').execute();
      await db.schema.alterTable('alert_outbox').dropColumn('group_key').execute();
      await db.schema.dropTable('watch_leases').execute();
    },
  };
}
