import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * The tripwire (`revoked-token-use`): containment records every token accessor it revokes, and
 * each audit event keeps the key of its `request.client_token` HMAC. OpenBao 2.7.2 logs a call made
 * with a revoked token with neither `auth.accessor` nor `request.client_token_accessor`, only the
 * client token's HMAC: the token is recognised by the HMAC its earlier, accessor-bearing calls
 * carried. The partial index holds only calls without an accessor (refused tokens, a few), so it
 * costs ingestion next to nothing.
 */
export function revokedAccessorsMigration(_context: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('revoked_accessors')
        .addColumn('accessor', 'text', (c) => c.primaryKey())
        .addColumn('incident_id', 'text')
        /** Audit time (sortable, nine fraction digits): uses at or after it are the tripwire. */
        .addColumn('revoked_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('audit_events').addColumn('client_token', 'text').execute();
      await db.schema
        .createIndex('audit_events_tokenless')
        .on('audit_events')
        .columns(['client_token', 'time'])
        .where(sql<boolean>`accessor IS NULL AND client_token IS NOT NULL`)
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_tokenless').execute();
      await db.schema.alterTable('audit_events').dropColumn('client_token').execute();
      await db.schema.dropTable('revoked_accessors').execute();
    },
  };
}
