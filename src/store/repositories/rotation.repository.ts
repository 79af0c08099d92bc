import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { redactText, redactValue } from '../../logging/redactor.js';

/** Phases a secret passes, in order; `phase` is the last one completed. */
export const ROTATION_PHASES = ['planned', 'staged', 'applied', 'verified', 'finalized', 'retired'] as const;
export type RotationPhase = (typeof ROTATION_PHASES)[number];
/** `running` covers a secret whose phase was started and not recorded as ended (a crash leaves it so). */
export type ItemState = 'pending' | 'running' | 'done' | 'failed' | 'rolled_back' | 'skipped';
export type RunState = 'running' | 'completed' | 'completed_with_failures' | 'interrupted';

/** `K`: the secret kinds; the store keeps whatever kind names rotation gives it (src/rotate/rotator.ts). */
export interface RotationRun<K extends string = string> {
  run_id: string;
  created_at: string;
  updated_at: string;
  state: RunState;
  selection: { tenants: string[] | 'all'; kinds: K[] };
  options: Record<string, unknown>;
  incident_id: string | null;
}

export interface RotationItem<K extends string = string> {
  id: number;
  run_id: string;
  tenant: string;
  kind: K;
  path: string;
  target: string | null;
  phase: RotationPhase;
  /** The phase started and not recorded as ended; `rollback` while a failed secret is being rolled back. */
  in_phase: RotationPhase | 'rollback' | null;
  state: ItemState;
  attempts: number;
  previous_version: number | null;
  staged_version: number | null;
  error: string | null;
  error_phase: string | null;
  retire_after: string | null;
}

export type ItemUpdate = Partial<Omit<RotationItem, 'id' | 'run_id' | 'tenant' | 'kind' | 'path'>>;

const now = () => new Date().toISOString();

/** The rotation journal. Every write is one statement, committed before the caller goes on. */
export class RotationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async createRun(
    run: Omit<RotationRun, 'created_at' | 'updated_at'>,
    items: Omit<RotationItem, 'id' | 'run_id'>[],
  ): Promise<void> {
    const at = now();
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('rotation_runs')
        .values({
          run_id: run.run_id,
          created_at: at,
          updated_at: at,
          state: run.state,
          selection: JSON.stringify(run.selection),
          options: JSON.stringify(run.options),
          incident_id: run.incident_id,
        })
        .execute();
      // Chunks keep each statement under the databases' parameter limits.
      for (let i = 0; i < items.length; i += 500)
        await tx
          .insertInto('rotation_items')
          .values(items.slice(i, i + 500).map((item) => ({ ...item, run_id: run.run_id, updated_at: at })))
          .execute();
    });
  }

  async setRunState(runId: string, state: RunState): Promise<void> {
    await this.db
      .updateTable('rotation_runs')
      .set({ state, updated_at: now() })
      .where('run_id', '=', runId)
      .execute();
  }

  async getRun(runId: string): Promise<RotationRun | undefined> {
    const row = await this.db
      .selectFrom('rotation_runs')
      .selectAll()
      .where('run_id', '=', runId)
      .executeTakeFirst();
    return row && toRun(row);
  }

  /** Newest first. */
  async listRuns(limit = 50): Promise<RotationRun[]> {
    const rows = await this.db
      .selectFrom('rotation_runs')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('run_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toRun);
  }

  /** Runs started for an incident, newest first. */
  async runsOfIncident(incidentId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('rotation_runs')
      .select('run_id')
      .where('incident_id', '=', incidentId)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => r.run_id);
  }

  async items(runId: string): Promise<RotationItem[]> {
    const rows = await this.db
      .selectFrom('rotation_items')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      run_id: r.run_id,
      tenant: r.tenant,
      kind: r.kind,
      path: r.path,
      target: r.target,
      phase: r.phase as RotationPhase,
      in_phase: r.in_phase as RotationItem['in_phase'],
      state: r.state as ItemState,
      attempts: r.attempts,
      previous_version: r.previous_version === null ? null : Number(r.previous_version),
      staged_version: r.staged_version === null ? null : Number(r.staged_version),
      error: r.error,
      error_phase: r.error_phase,
      retire_after: r.retire_after,
    }));
  }

  async updateItem(id: number, update: ItemUpdate): Promise<void> {
    await this.db
      .updateTable('rotation_items')
      .set({
        ...update,
        ...(update.error ? { error: redactText(update.error) } : {}),
        updated_at: now(),
      })
      .where('id', '=', id)
      .execute();
  }

  /** Records an event for a tenant once per run (a resumed run does not record it twice). */
  async record(
    runId: string,
    tenant: string,
    event: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.db
      .insertInto('rotation_records')
      .values({ run_id: runId, tenant, event, at: now(), details: JSON.stringify(redactValue(details)) })
      .onConflict((oc) => oc.columns(['run_id', 'tenant', 'event']).doNothing())
      .execute();
  }

  async records(
    runId: string,
  ): Promise<{ tenant: string; event: string; at: string; details: Record<string, unknown> }[]> {
    const rows = await this.db
      .selectFrom('rotation_records')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      tenant: r.tenant,
      event: r.event,
      at: r.at,
      details: JSON.parse(r.details) as Record<string, unknown>,
    }));
  }
}

function toRun(row: {
  run_id: string;
  created_at: string;
  updated_at: string;
  state: string;
  selection: string;
  options: string;
  incident_id: string | null;
}): RotationRun {
  return {
    run_id: row.run_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
    state: row.state as RunState,
    selection: JSON.parse(row.selection) as RotationRun['selection'],
    options: JSON.parse(row.options) as Record<string, unknown>,
    incident_id: row.incident_id,
  };
}
