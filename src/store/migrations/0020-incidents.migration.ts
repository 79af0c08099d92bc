import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * The incident journal: one row per incident, one per step of its playbook, and a timeline of every
 * transition. A step's row is written before it runs (`running`, attempt start) and after
 * (`done`/`failed`, end, evidence), so `incident resume` knows which steps are finished, which one
 * was cut off, and never runs a finished one again.
 */
export function incidentsMigration({ idColumn }: MigrationContext) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('incidents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('declared_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('completed_at', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        // host:pid of the process driving the playbook, so two processes never run one incident at once.
        .addColumn('owner', 'text')
        .execute();
      await db.schema.createIndex('incidents_created').on('incidents').columns(['created_at']).execute();
      await db.schema
        .createTable('incident_steps')
        .addColumn('incident_id', 'text', (c) => c.notNull().references('incidents.id'))
        .addColumn('step_id', 'text', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('needs_approval', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('attempt_started_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('measured_seconds', 'double precision')
        .addColumn('target_seconds', 'double precision', (c) => c.notNull())
        .addColumn('evidence', 'text')
        .addColumn('verify_evidence', 'text')
        .addColumn('outputs', 'text')
        .addColumn('error', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('incident_steps_pk', ['incident_id', 'step_id'])
        .execute();
      await idColumn(db.schema.createTable('incident_events'))
        .addColumn('incident_id', 'text', (c) => c.notNull().references('incidents.id'))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('step_id', 'text')
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('incident_events_incident')
        .on('incident_events')
        .columns(['incident_id', 'id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('incident_events').execute();
      await db.schema.dropTable('incident_steps').execute();
      await db.schema.dropTable('incidents').execute();
    },
  };
}
