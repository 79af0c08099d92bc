import { SealwatchError } from '../../errors.js';
import type { Step } from '../../playbook/step.js';
import type { createRotation, RotationPlan } from '../../rotate/rotation.service.js';
import type { RotatorKind } from '../../rotate/rotator.js';

type Rotation = ReturnType<typeof createRotation>;

export interface RotateStepOptions {
  /** Kinds to rotate; every configured kind when absent. */
  kinds?: RotatorKind[];
}

export interface RotateStepDeps {
  rotation: Rotation;
  /** The rotation runs already made for this incident (a resumed incident continues its run). */
  runsOfIncident(incidentId: string): Promise<string[]>;
}

/**
 * "Rotate (30 min–2 h)": every tenant secret through the rotation engine. A resumed incident
 * resumes the run it started instead of starting another. Failed secrets are listed in the
 * evidence and the report, never dropped; secrets left unfinished (Vault sealed or unreachable)
 * fail the step so that `incident resume` continues them.
 */
export function createRotateStep(deps: RotateStepDeps): Step<RotateStepOptions> {
  const selection = (incidentId: string, kinds?: RotatorKind[]) => ({
    tenants: 'all' as const,
    incidentId,
    ...(kinds ? { kinds } : {}),
  });
  // The plan shown for approval is the one run: listing every tenant's secrets twice would double
  // the Vault requests of the largest step.
  let planned: { key: string; plan: Promise<RotationPlan> } | undefined;
  const planFor = (incidentId: string, kinds?: RotatorKind[]): Promise<RotationPlan> => {
    const key = `${incidentId}:${kinds?.join(',') ?? '*'}`;
    if (planned?.key !== key) {
      const plan = deps.rotation.plan(selection(incidentId, kinds));
      // A failed plan is not cached (the next call plans again); its awaiters get the error.
      plan.catch(() => (planned = undefined));
      planned = { key, plan };
    }
    return planned.plan;
  };
  return {
    id: 'rotate',
    title: 'Rotate every tenant secret',
    targetSeconds: 2 * 60 * 60,
    needsApproval: true,
    async plan({ incidentId, options }) {
      const plan = await planFor(incidentId, options.kinds);
      const byKind: Record<string, number> = {};
      for (const s of plan.secrets) byKind[s.kind] = (byKind[s.kind] ?? 0) + 1;
      return [
        {
          action: `rotate ${plan.secrets.length} secrets of ${plan.tenants.length} tenants (stage, apply, verify, finalize)`,
          details: { by_kind: byKind, limits: plan.limits },
          destructive: true,
        },
      ];
    },
    async run({ incidentId, options, progress, signal }) {
      const [existing] = await deps.runsOfIncident(incidentId);
      const hooks = {
        signal,
        onStart: (runId: string, total: number) => progress(`rotation run ${runId}: ${total} secrets`),
      };
      const summary = existing
        ? await deps.rotation.resume(existing, hooks)
        : await deps.rotation.start(
            selection(incidentId, options.kinds),
            await planFor(incidentId, options.kinds),
            hooks,
          );
      if (summary.pending > 0)
        throw new SealwatchError(
          'rotation_unfinished',
          `rotation run ${summary.run_id}: ${summary.pending} secrets unfinished (${summary.failures.length} failed) — resume the incident once Vault answers`,
          { retryable: true },
        );
      return {
        evidence: {
          run_id: summary.run_id,
          rotated: summary.rotated,
          failed: summary.failed,
          rolled_back: summary.rolled_back,
          skipped: summary.skipped,
          by_kind: summary.by_kind,
          failures: summary.failures.slice(0, 50),
          api_keys_revoked: summary.records.reduce((n, r) => n + Number(r.details['keys'] ?? 0), 0),
        },
        outputs: { run_id: summary.run_id, summary: { ...summary, records: summary.records.length } },
      };
    },
  };
}
