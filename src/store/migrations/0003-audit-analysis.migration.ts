import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * What breach assessment needs beyond the event store: the TTL of tokens a response issued (the
 * only unhashed trace of a token's lifetime), and partial indexes so the detection rules that look
 * for rare events (errors, root-token use) read only those rows instead of scanning a day of traffic.
 */
/**
 * The conditions of the partial indexes, as literal SQL. SQLite uses a partial index only when the
 * query repeats its condition with literals (a bound parameter cannot prove the implication), so
 * the repository imports these same expressions.
 */
export const SUCCESSFUL_READ = sql<boolean>`type = 'response' AND operation = 'read' AND error IS NULL`;
export const ROOT_POLICY = sql<boolean>`policies LIKE '%"root"%'`;

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
      // Successful reads, grouped by accessor and path without touching the table: the one
      // aggregate over a whole day that assessment cannot avoid. The condition's own columns are
      // repeated (constant within the index) because SQLite counts an index as covering only then.
      await db.schema
        .createIndex('audit_events_reads')
        .on('audit_events')
        .columns(['accessor', 'path', 'time', 'mount_point', 'mount_type', 'type', 'operation', 'error'])
        .where(SUCCESSFUL_READ)
        .execute();
      await db.schema
        .createIndex('audit_events_root')
        .on('audit_events')
        .columns(['time'])
        .where(ROOT_POLICY)
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_root').execute();
      await db.schema.dropIndex('audit_events_reads').execute();
      await db.schema.dropIndex('audit_events_errors').execute();
      await db.schema.alterTable('audit_events').dropColumn('issued_token_ttl').execute();
    },
  };
}
