import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * What breach assessment needs beyond the event store: the TTL of tokens a response issued (the
 * only unhashed trace of a token's lifetime), and partial indexes so the detection rules that look
 * for rare events (errors, root-token use) read only those rows instead of scanning a day of traffic.
 */
export function auditAnalysisMigration(_context: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('audit_events').addColumn('issued_token_ttl', 'bigint').execute();
      await db.schema
        .createIndex('audit_events_errors')
        .on('audit_events')
        .columns(['time'])
        .where(sql.ref('error'), 'is not', null)
        .execute();
      await db.schema
        .createIndex('audit_events_root')
        .on('audit_events')
        .columns(['time'])
        .where(sql.ref('policies'), 'like', '%"root"%')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_root').execute();
      await db.schema.dropIndex('audit_events_errors').execute();
      await db.schema.alterTable('audit_events').dropColumn('issued_token_ttl').execute();
    },
  };
}
