import type { CreateTableBuilder, Migration } from 'kysely';
import { baseMigration } from './0001-base.migration.js';
import { auditMigration } from './0002-audit.migration.js';
import { auditAnalysisMigration } from './0003-audit-analysis.migration.js';
import { rotationMigration } from './0010-rotation.migration.js';
import { incidentsMigration } from './0020-incidents.migration.js';
import { notificationsMigration } from './0030-notifications.migration.js';
import { auditActorsMigration } from './0040-audit-actors.migration.js';
import { backupsMigration } from './0050-backups.migration.js';
import { auditEventKeyIndexMigration } from './0060-audit-event-key-index.migration.js';
import { auditPathKindMigration } from './0070-audit-path-kind.migration.js';
import { nodeObservationSharesMigration } from './0075-node-observation-shares.migration.js';
import { alertsMigration } from './0080-alerts.migration.js';
import { postureBaselineMigration } from './0090-posture-baseline.migration.js';
import { revokedAccessorsMigration } from './0100-revoked-accessors.migration.js';
import { watchHaMigration } from './0110-watch-ha.migration.js';

export type StoreDialect = 'sqlite' | 'postgres';

export interface MigrationContext {
  dialect: StoreDialect;
  /** Adds an auto-incrementing integer primary key `id`, spelled as each database wants it. */
  idColumn: <T extends string>(table: CreateTableBuilder<T, never>) => CreateTableBuilder<T, 'id'>;
}

/**
 * Migrations in order. Each capability adds its own file (`NNNN-name.migration.ts`) and one line
 * here; names sort in the order they run and never change once released.
 */
export function migrations(dialect: StoreDialect): Record<string, Migration> {
  const context: MigrationContext = {
    dialect,
    idColumn: (table) =>
      dialect === 'sqlite'
        ? table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        : table.addColumn('id', 'bigserial', (c) => c.primaryKey()),
  };
  return {
    '0001-base': baseMigration(context),
    '0002-audit': auditMigration(context),
    '0003-audit-analysis': auditAnalysisMigration(context),
    '0010-rotation': rotationMigration(context),
    '0020-incidents': incidentsMigration(context),
    '0030-notifications': notificationsMigration(context),
    '0040-audit-actors': auditActorsMigration(context),
    '0050-backups': backupsMigration(context),
    '0060-audit-event-key-index': auditEventKeyIndexMigration(context),
    '0070-audit-path-kind': auditPathKindMigration(context),
    '0075-node-observation-shares': nodeObservationSharesMigration(context),
    '0080-alerts': alertsMigration(context),
    '0090-posture-baseline': postureBaselineMigration(context),
    '0100-revoked-accessors': revokedAccessorsMigration(context),
    '0110-watch-ha': watchHaMigration(context),
  };
}
