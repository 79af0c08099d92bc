import type { Logger } from '../logging/logger.js';
import type {
  IncidentRepository,
  IncidentState,
  IncidentStep,
} from '../store/repositories/incident.repository.js';
import { redactor } from '../logging/redactor.js';
import type { PlanEntry, Step, StepContext, StepOutcome } from './step.js';

/**
 * The playbook engine. For each step in order:
 *
 *   done or skipped in the journal   → not run again (its outputs feed later steps);
 *   needs approval                   → ask; refused or nobody to ask → stop, `waiting_approval`;
 *   otherwise                        → journal `running` (attempt start) BEFORE `run`, journal the
 *                                      evidence and outputs AFTER it, then `verify` (a failed verify
 *                                      fails the step), then `done` with the end time.
 *
 * A step that throws is journalled `failed` (one scrubbed line) and stops the playbook: the incident
 * is `failed` and `incident resume` retries that step. A step found `running` was cut off by a crash
 * and runs again (steps are idempotent). An aborted signal (SIGINT) stops at the next step boundary:
 * `interrupted`.
 *
 * Measured time: `measured_seconds` is the sum of the attempts of a step whose end was journalled
 * (done, failed, interrupted). An attempt cut off by a crash has no recorded end and is not counted;
 * the incident's wall-clock RTO (report.ts) includes it.
 */

export type PlaybookJournal = Pick<IncidentRepository, 'steps' | 'syncSteps' | 'update' | 'updateStep'>;

export interface ApprovalRequest {
  incidentId: string;
  step: Pick<Step, 'id' | 'title' | 'targetSeconds'>;
  plan: PlanEntry[];
}

export type Approval =
  | { approved: true; by: string }
  /** `unavailable`: nobody can be asked (no terminal, no --yes). */
  | { approved: false; reason: 'declined' | 'unavailable' };

export type Approver = (request: ApprovalRequest) => Promise<Approval>;

/** --yes: every step is approved, and the journal says by whom. */
export const approveAll =
  (by = '--yes'): Approver =>
  async () => ({ approved: true, by });

/** No terminal and no --yes: nothing destructive runs. */
export const approveNone: Approver = async () => ({ approved: false, reason: 'unavailable' });

export interface PlaybookRunInput<S = Record<string, unknown>> {
  incident: { id: string; options: Readonly<Record<string, unknown>> };
  steps: readonly Step<S>[];
  approve: Approver;
  signal?: AbortSignal;
  /** Progress for the operator (stderr); scrubbed before it is called. */
  progress?: (message: string) => void;
}

export interface PlaybookEngineDeps {
  journal: PlaybookJournal;
  logger: Logger;
}

export interface PlaybookResult {
  incidentId: string;
  state: Exclude<IncidentState, 'declared' | 'running'>;
  /** The step the playbook stopped at (failed, waiting for approval, next after an interrupt). */
  stoppedAt?: string;
  /** What the operator should read when it did not complete. */
  message?: string;
}

const elapsedSeconds = (startedMs: number) => Math.round((Date.now() - startedMs) / 10) / 100;
const iso = () => new Date().toISOString();

export async function runPlaybook<S>(
  input: PlaybookRunInput<S>,
  deps: PlaybookEngineDeps,
): Promise<PlaybookResult> {
  const { incident, steps, approve } = input;
  const { journal } = deps;
  const signal = input.signal ?? new AbortController().signal;
  const scrub = redactor;
  const progress = (message: string) => input.progress?.(scrub.text(message));
  const logger = deps.logger.child({ incident: incident.id });

  await journal.syncSteps(
    incident.id,
    steps.map((s) => ({
      step_id: s.id,
      title: s.title,
      target_seconds: s.targetSeconds,
      needs_approval: s.needsApproval,
    })),
  );
  const rows = new Map<string, IncidentStep>((await journal.steps(incident.id)).map((r) => [r.step_id, r]));
  const outputs: Record<string, Record<string, unknown> | undefined> = {};
  for (const row of rows.values()) if (row.status === 'done') outputs[row.step_id] = row.outputs ?? {};
  const resumed = [...rows.values()].some((r) => r.attempts > 0 || r.status !== 'pending');
  await journal.update(
    incident.id,
    { state: 'running' },
    { event: resumed ? 'resumed' : 'started', details: { steps: steps.map((s) => s.id) } },
  );

  const stop = async (
    state: PlaybookResult['state'],
    stepId: string | undefined,
    message: string,
  ): Promise<PlaybookResult> => {
    await journal.update(
      incident.id,
      { state },
      { event: state, step_id: stepId ?? null, details: { message } },
    );
    progress(message);
    return { incidentId: incident.id, state, ...(stepId ? { stoppedAt: stepId } : {}), message };
  };

  for (const [index, step] of steps.entries()) {
    const row = rows.get(step.id)!;
    if (row.status === 'done' || row.status === 'skipped') continue;
    if (signal.aborted)
      return stop(
        'interrupted',
        step.id,
        `interrupted before step ${step.id}: resume with sealwatch incident resume ${incident.id}`,
      );
    const log = logger.child({ step: step.id });
    const ctx: StepContext<S> = {
      incidentId: incident.id,
      logger: log,
      signal,
      outputs: { ...outputs },
      options: incident.options as Readonly<S>,
      progress: (message) => progress(`[${step.id}] ${message}`),
      sensitive: (value) => scrub.register(value),
    };
    const label = `step ${index + 1}/${steps.length} ${step.id} (${step.title})`;
    if (row.status === 'running')
      progress(`${label}: its last attempt was cut off before its end was journalled; running it again`);

    const skipReason = await step.skip?.(ctx);
    if (skipReason !== undefined) {
      const reason = scrub.text(skipReason);
      await journal.updateStep(
        incident.id,
        step.id,
        { status: 'skipped', evidence: { skipped: reason }, ended_at: iso(), measured_seconds: 0 },
        { event: 'step_skipped', details: { reason } },
      );
      progress(`${label}: skipped (${reason})`);
      continue;
    }

    if (step.needsApproval) {
      let plan: PlanEntry[];
      try {
        plan = await step.plan(ctx);
      } catch (error) {
        // A step that cannot even say what it would do (too few key shares, a key that does not
        // parse) fails before anything changed; the incident stays resumable at this step.
        const reason = scrub.errorLine(error);
        await journal.updateStep(
          incident.id,
          step.id,
          { status: 'failed', ended_at: iso(), error: reason },
          { event: 'step_failed', details: { reason, phase: 'plan' } },
        );
        return stop(
          'failed',
          step.id,
          `step ${step.id} failed: ${reason} — fix the cause, then sealwatch incident resume ${incident.id}`,
        );
      }
      await journal.update(
        incident.id,
        { state: 'waiting_approval' },
        { event: 'approval_requested', step_id: step.id, details: { plan: scrub.value(plan) } },
      );
      const decision = await approve({
        incidentId: incident.id,
        step: { id: step.id, title: step.title, targetSeconds: step.targetSeconds },
        plan: scrub.value(plan),
      });
      if (!decision.approved) {
        const message =
          decision.reason === 'unavailable'
            ? `step ${step.id} needs approval: rerun with --yes or on a terminal (sealwatch incident resume ${incident.id} --yes)`
            : `step ${step.id} was not approved: the incident stays open (sealwatch incident resume ${incident.id})`;
        return stop('waiting_approval', step.id, message);
      }
      await journal.update(
        incident.id,
        { state: 'running' },
        { event: 'approved', step_id: step.id, details: { by: decision.by } },
      );
    }

    const attempt = row.attempts + 1;
    const startedMs = Date.now();
    const startedAt = new Date(startedMs).toISOString();
    await journal.updateStep(
      incident.id,
      step.id,
      {
        status: 'running',
        started_at: row.started_at ?? startedAt,
        attempt_started_at: startedAt,
        ended_at: null,
        error: null,
        attempts: attempt,
      },
      { event: 'step_started', details: { attempt } },
    );
    progress(`${label}: started${attempt > 1 ? ` (attempt ${attempt})` : ''}, target ${step.targetSeconds}s`);
    const before = row.measured_seconds ?? 0;

    let outcome: StepOutcome;
    try {
      outcome = await step.run(ctx);
    } catch (error) {
      const measured = before + elapsedSeconds(startedMs);
      const reason = scrub.errorLine(error);
      if (signal.aborted) {
        // Stopped by the operator mid-step: not a failure; the step runs again on resume.
        await journal.updateStep(
          incident.id,
          step.id,
          { status: 'pending', measured_seconds: measured, error: null },
          { event: 'step_interrupted', details: { reason } },
        );
        return stop(
          'interrupted',
          step.id,
          `interrupted in step ${step.id}: resume with sealwatch incident resume ${incident.id}`,
        );
      }
      log.warn({ reason, attempt }, 'step failed');
      await journal.updateStep(
        incident.id,
        step.id,
        { status: 'failed', ended_at: iso(), measured_seconds: measured, error: reason },
        { event: 'step_failed', details: { reason, attempt } },
      );
      return stop(
        'failed',
        step.id,
        `step ${step.id} failed: ${reason} — fix the cause, then sealwatch incident resume ${incident.id}`,
      );
    }

    const evidence = scrub.value(outcome.evidence);
    const stepOutputs = outcome.outputs === undefined ? {} : scrub.value(outcome.outputs);
    // Journalled before verify: what the step did is known even if verify or the process dies.
    await journal.updateStep(
      incident.id,
      step.id,
      { evidence, outputs: stepOutputs },
      { event: 'step_ran', details: { evidence } },
    );

    if (step.verify) {
      let verified: { ok: boolean; evidence: Record<string, unknown>; error?: string };
      try {
        const result = await step.verify(ctx, { evidence, outputs: stepOutputs });
        verified = { ok: result.ok, evidence: scrub.value(result.evidence) };
      } catch (error) {
        verified = { ok: false, evidence: {}, error: scrub.errorLine(error) };
      }
      if (!verified.ok) {
        const reason = `verification failed${verified.error ? `: ${verified.error}` : ''}`;
        await journal.updateStep(
          incident.id,
          step.id,
          {
            status: 'failed',
            ended_at: iso(),
            measured_seconds: before + elapsedSeconds(startedMs),
            verify_evidence: verified.evidence,
            error: reason,
          },
          { event: 'step_failed', details: { reason, attempt, verify: verified.evidence } },
        );
        return stop(
          'failed',
          step.id,
          `step ${step.id}: ${reason} — see sealwatch incident show ${incident.id}; then sealwatch incident resume ${incident.id}`,
        );
      }
      await journal.updateStep(
        incident.id,
        step.id,
        { verify_evidence: verified.evidence },
        { event: 'step_verified', details: { evidence: verified.evidence } },
      );
    }

    const measured = before + elapsedSeconds(startedMs);
    await journal.updateStep(
      incident.id,
      step.id,
      { status: 'done', ended_at: iso(), measured_seconds: measured },
      { event: 'step_done', details: { measured_seconds: measured, target_seconds: step.targetSeconds } },
    );
    outputs[step.id] = stepOutputs;
    progress(`${label}: done in ${measured}s (target ${step.targetSeconds}s)`);
  }

  await journal.update(
    incident.id,
    { state: 'completed', completed_at: iso() },
    { event: 'completed', details: {} },
  );
  return { incidentId: incident.id, state: 'completed' };
}

/** What a playbook would do, as data (`--dry-run`): nothing is written anywhere. */
export interface PlaybookPlan {
  steps: {
    id: string;
    title: string;
    target_seconds: number;
    needs_approval: boolean;
    /** Why the step would be skipped, when it would. */
    skip?: string;
    actions: PlanEntry[];
  }[];
  target_seconds: number;
}

export async function planPlaybook<S>(
  steps: readonly Step<S>[],
  context: { incidentId?: string; options: Readonly<S>; logger: Logger; signal?: AbortSignal },
): Promise<PlaybookPlan> {
  const scrub = redactor;
  const ctx: StepContext<S> = {
    incidentId: context.incidentId ?? 'dry-run',
    logger: context.logger,
    signal: context.signal ?? new AbortController().signal,
    outputs: {},
    options: context.options,
    progress: () => undefined,
    sensitive: (value) => scrub.register(value),
  };
  const planned: PlaybookPlan['steps'] = [];
  for (const step of steps) {
    const skip = await step.skip?.(ctx);
    planned.push({
      id: step.id,
      title: step.title,
      target_seconds: step.targetSeconds,
      needs_approval: step.needsApproval,
      ...(skip !== undefined ? { skip: scrub.text(skip) } : {}),
      actions: skip !== undefined ? [] : scrub.value(await step.plan(ctx)),
    });
  }
  return { steps: planned, target_seconds: steps.reduce((sum, s) => sum + s.targetSeconds, 0) };
}
