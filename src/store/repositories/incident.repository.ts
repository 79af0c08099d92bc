import type { Kysely, Selectable } from 'kysely';
import type { Database, IncidentStepTable, IncidentTable } from '../schema.js';
import { redactText, redactValue } from '../../logging/redactor.js';

export const INCIDENT_STATES = [
  'declared',
  'running',
  'waiting_approval',
  'failed',
  'interrupted',
  'completed',
] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];
/** `running` is written before a step runs; a crash leaves it so, and resume runs that step again. */
export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface Incident {
  id: string;
  type: string;
  severity: string;
  declared_by: string;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  state: IncidentState;
  options: Record<string, unknown>;
  owner: string | null;
}

export interface IncidentStep {
  incident_id: string;
  step_id: string;
  position: number;
  title: string;
  status: StepStatus;
  needs_approval: boolean;
  /** When the first attempt started. */
  started_at: string | null;
  /** When the attempt in progress (or the last one) started. */
  attempt_started_at: string | null;
  ended_at: string | null;
  /** Sum of the durations of the attempts whose end was journalled (see playbook.engine.ts). */
  measured_seconds: number | null;
  target_seconds: number;
  evidence: Record<string, unknown> | null;
  verify_evidence: Record<string, unknown> | null;
  outputs: Record<string, unknown> | null;
  error: string | null;
  attempts: number;
}

export interface IncidentEvent {
  id: number;
  incident_id: string;
  at: string;
  step_id: string | null;
  event: string;
  details: Record<string, unknown>;
}

export type NewIncident = Omit<Incident, 'updated_at' | 'completed_at' | 'owner'>;
export type NewIncidentStep = Pick<IncidentStep, 'step_id' | 'title' | 'target_seconds' | 'needs_approval'>;
export type StepUpdate = Partial<Omit<IncidentStep, 'incident_id' | 'step_id'>>;
export type IncidentUpdate = Partial<Pick<Incident, 'state' | 'completed_at' | 'owner'>>;
export interface EventInput {
  step_id?: string | null;
  event: string;
  details?: Record<string, unknown>;
}

const now = () => new Date().toISOString();
/** What the journal keeps passes the redactor: evidence, outputs, errors and event details. */
const json = (value: Record<string, unknown> | null | undefined) =>
  value === undefined ? undefined : value === null ? null : JSON.stringify(redactValue(value));
const parse = (text: string | null) => (text === null ? null : (JSON.parse(text) as Record<string, unknown>));

/**
 * The incident journal. Every change of a step is written together with its timeline event in one
 * transaction, committed before the caller goes on.
 */
export class IncidentRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates the incident with its steps (all pending) and the `declared` event. */
  async create(incident: NewIncident, steps: readonly NewIncidentStep[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('incidents')
        .values({
          id: incident.id,
          type: incident.type,
          severity: incident.severity,
          declared_by: incident.declared_by,
          created_at: incident.created_at,
          updated_at: incident.created_at,
          completed_at: null,
          state: incident.state,
          options: JSON.stringify(redactValue(incident.options)),
          owner: null,
        })
        .execute();
      if (steps.length > 0)
        await tx
          .insertInto('incident_steps')
          .values(steps.map((step, position) => newStepRow(incident.id, step, position)))
          .execute();
      await tx
        .insertInto('incident_events')
        .values({
          incident_id: incident.id,
          at: incident.created_at,
          step_id: null,
          event: 'declared',
          details: JSON.stringify({
            type: incident.type,
            severity: incident.severity,
            declared_by: incident.declared_by,
          }),
        })
        .execute();
    });
  }

  /**
   * Makes the journal list exactly these steps in this order, keeping what is journalled for steps it
   * already has: a resumed incident whose playbook gained a step runs the new one too.
   */
  async syncSteps(incidentId: string, steps: readonly NewIncidentStep[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const existing = new Set(
        (
          await tx
            .selectFrom('incident_steps')
            .select('step_id')
            .where('incident_id', '=', incidentId)
            .execute()
        ).map((r) => r.step_id),
      );
      for (const [position, step] of steps.entries()) {
        if (existing.has(step.step_id))
          await tx
            .updateTable('incident_steps')
            .set({
              position,
              title: step.title,
              target_seconds: step.target_seconds,
              needs_approval: step.needs_approval ? 1 : 0,
            })
            .where('incident_id', '=', incidentId)
            .where('step_id', '=', step.step_id)
            .execute();
        else
          await tx
            .insertInto('incident_steps')
            .values(newStepRow(incidentId, step, position))
            .execute();
      }
    });
  }

  async get(id: string): Promise<Incident | undefined> {
    const row = await this.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toIncident(row);
  }

  /** Newest first. */
  async list(limit = 100): Promise<Incident[]> {
    const rows = await this.db
      .selectFrom('incidents')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toIncident);
  }

  /** The newest incident that is not completed, if any. */
  async latestUnfinished(): Promise<Incident | undefined> {
    const row = await this.db
      .selectFrom('incidents')
      .selectAll()
      .where('state', '!=', 'completed')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return row && toIncident(row);
  }

  async steps(incidentId: string): Promise<IncidentStep[]> {
    const rows = await this.db
      .selectFrom('incident_steps')
      .selectAll()
      .where('incident_id', '=', incidentId)
      .orderBy('position')
      .execute();
    return rows.map(toStep);
  }

  async events(incidentId: string): Promise<IncidentEvent[]> {
    const rows = await this.db
      .selectFrom('incident_events')
      .selectAll()
      .where('incident_id', '=', incidentId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      incident_id: r.incident_id,
      at: r.at,
      step_id: r.step_id,
      event: r.event,
      details: JSON.parse(r.details) as Record<string, unknown>,
    }));
  }

  /** Changes the incident (state, owner) and records the event, in one transaction. */
  async update(incidentId: string, update: IncidentUpdate, event?: EventInput): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const at = now();
      await tx
        .updateTable('incidents')
        .set({ ...update, updated_at: at })
        .where('id', '=', incidentId)
        .execute();
      if (event)
        await tx
          .insertInto('incident_events')
          .values(eventRow(incidentId, at, event))
          .execute();
    });
  }

  /**
   * Replaces the options the playbook is rebuilt from (what `incident resume` was given, merged by
   * the caller) and records what changed, in one transaction.
   */
  async amendOptions(incidentId: string, options: Record<string, unknown>, event: EventInput): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const at = now();
      await tx
        .updateTable('incidents')
        .set({ options: JSON.stringify(redactValue(options)), updated_at: at })
        .where('id', '=', incidentId)
        .execute();
      await tx
        .insertInto('incident_events')
        .values(eventRow(incidentId, at, event))
        .execute();
    });
  }

  /**
   * Takes the incident for this process: succeeds when nobody holds it or the holder is `expected`
   * (the caller found it dead). Compare-and-set, so of two racing processes only one wins.
   */
  async claim(incidentId: string, owner: string, expected: string | null): Promise<boolean> {
    let query = this.db
      .updateTable('incidents')
      .set({ owner, updated_at: now() })
      .where('id', '=', incidentId);
    query = expected === null ? query.where('owner', 'is', null) : query.where('owner', '=', expected);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Changes one step and records the event, in one transaction. */
  async updateStep(
    incidentId: string,
    stepId: string,
    update: StepUpdate,
    event?: EventInput,
  ): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const at = now();
      const { evidence, verify_evidence, outputs, needs_approval, error, ...plain } = update;
      await tx
        .updateTable('incident_steps')
        .set({
          ...plain,
          ...(error !== undefined ? { error: error === null ? null : redactText(error) } : {}),
          ...(evidence !== undefined ? { evidence: json(evidence) } : {}),
          ...(verify_evidence !== undefined ? { verify_evidence: json(verify_evidence) } : {}),
          ...(outputs !== undefined ? { outputs: json(outputs) } : {}),
          ...(needs_approval !== undefined ? { needs_approval: needs_approval ? 1 : 0 } : {}),
        })
        .where('incident_id', '=', incidentId)
        .where('step_id', '=', stepId)
        .execute();
      await tx.updateTable('incidents').set({ updated_at: at }).where('id', '=', incidentId).execute();
      if (event)
        await tx
          .insertInto('incident_events')
          .values(eventRow(incidentId, at, { step_id: stepId, ...event }))
          .execute();
    });
  }

  async addEvent(incidentId: string, event: EventInput): Promise<void> {
    await this.db
      .insertInto('incident_events')
      .values(eventRow(incidentId, now(), event))
      .execute();
  }
}

function newStepRow(incidentId: string, step: NewIncidentStep, position: number) {
  return {
    incident_id: incidentId,
    step_id: step.step_id,
    position,
    title: step.title,
    status: 'pending',
    needs_approval: step.needs_approval ? 1 : 0,
    started_at: null,
    attempt_started_at: null,
    ended_at: null,
    measured_seconds: null,
    target_seconds: step.target_seconds,
    evidence: null,
    verify_evidence: null,
    outputs: null,
    error: null,
    attempts: 0,
  };
}

function eventRow(incidentId: string, at: string, event: EventInput) {
  return {
    incident_id: incidentId,
    at,
    step_id: event.step_id ?? null,
    event: event.event,
    details: JSON.stringify(redactValue(event.details ?? {})),
  };
}

function toIncident(row: Selectable<IncidentTable>): Incident {
  return {
    id: row.id,
    type: row.type,
    severity: row.severity,
    declared_by: row.declared_by,
    created_at: row.created_at,
    updated_at: row.updated_at,
    completed_at: row.completed_at,
    state: row.state as IncidentState,
    options: JSON.parse(row.options) as Record<string, unknown>,
    owner: row.owner,
  };
}

function toStep(row: Selectable<IncidentStepTable>): IncidentStep {
  return {
    incident_id: row.incident_id,
    step_id: row.step_id,
    position: Number(row.position),
    title: row.title,
    status: row.status as StepStatus,
    needs_approval: Number(row.needs_approval) === 1,
    started_at: row.started_at,
    attempt_started_at: row.attempt_started_at,
    ended_at: row.ended_at,
    measured_seconds: row.measured_seconds === null ? null : Number(row.measured_seconds),
    target_seconds: Number(row.target_seconds),
    evidence: parse(row.evidence),
    verify_evidence: parse(row.verify_evidence),
    outputs: parse(row.outputs),
    error: row.error,
    attempts: Number(row.attempts),
  };
}
