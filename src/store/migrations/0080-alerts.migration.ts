import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * `watch` alerts: one row per fingerprint (rule id + sorted labels) with its lifecycle
 * (pending → firing → resolved) and what was last notified, so a restarted watch neither re-sends
 * nor forgets; silences with author and expiry; and the outbox of notices not yet delivered, each
 * written in the same transaction as the alert change that queued it.
 */
export function alertsMigration({ idColumn }: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('alerts')
        .addColumn('fingerprint', 'text', (c) => c.primaryKey())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('runbook', 'text')
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('fired_at', 'text')
        .addColumn('resolved_at', 'text')
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .addColumn('last_notified_at', 'text')
        .addColumn('notified_state', 'text')
        .addColumn('acked_by', 'text')
        .addColumn('acked_at', 'text')
        .addColumn('silenced_by', 'text')
        .execute();
      await db.schema.createIndex('alerts_state').on('alerts').columns(['state', 'rule']).execute();
      await db.schema
        .createTable('alert_silences')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('matchers', 'text', (c) => c.notNull())
        .addColumn('author', 'text', (c) => c.notNull())
        .addColumn('comment', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('ends_at', 'text', (c) => c.notNull())
        .execute();
      await idColumn(db.schema.createTable('alert_outbox'))
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('sent_at', 'text')
        .execute();
      await db.schema
        .createIndex('alert_outbox_due')
        .on('alert_outbox')
        .columns(['state', 'next_attempt_at'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('alert_outbox').execute();
      await db.schema.dropTable('alert_silences').execute();
      await db.schema.dropTable('alerts').execute();
    },
  };
}
