import { z } from 'zod';
import type { Config } from '../config/load.js';
import { SealwatchError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { PlanEntry, Step, StepContext } from '../playbook/step.js';
import type { PlaybookFactory } from '../playbook/registry.js';
import type { Store } from '../store/store.js';
import type { VaultClient } from '../vault/client.js';
import type { PostureCheck, PostureFinding } from './check.js';
import { POSTURE_CHECKS } from './checks/index.js';
import type { FixDeps, PostureFixer } from './fixes/fix.js';
import { fixerFor } from './fixes/index.js';
import { createPosture, findingSchema } from './posture.service.js';

/** The incident type of `posture fix`: its steps are rebuilt from the journalled findings on resume. */
export const POSTURE_FIX_INCIDENT_TYPE = 'posture-fix';

/** A fix step's recovery target: one API call or a handful, then a check re-run. */
const FIX_TARGET_SECONDS = 30;

/** What the incident journals to rebuild its steps: the findings as seen when the fix was asked for. Never a secret. */
export const postureFixOptionsSchema = z.object({
  since: z.string(),
  export_dir: z.string(),
  findings: z.array(findingSchema),
});
export type PostureFixOptions = z.infer<typeof postureFixOptionsSchema>;

/** How `posture fix` answers for one requested finding id. */
export type FixDecision =
  | { finding: PostureFinding; status: 'planned'; fixer: PostureFixer }
  /** No fixer handles this kind of finding: the operator applies `finding.fix`. */
  | { finding: PostureFinding; status: 'manual'; reason: string }
  /** A fixer handles it, but not here (the caller's own token, a policy other tenants share). */
  | { finding: PostureFinding; status: 'refused'; reason: string };

export class UnknownFindingError extends SealwatchError {
  constructor(ids: readonly string[], addr: string) {
    super(
      'posture_unknown_finding',
      `unknown finding id${ids.length > 1 ? 's' : ''} ${ids.join(', ')}: not in the current posture of ${addr} (sealwatch posture --json lists the ids)`,
      { details: { ids } },
    );
  }
}

export interface PostureFixDeps {
  vault: VaultClient;
  store: Store;
  config: Config;
  logger: Logger;
  /** The check registry; tests may pass their own. */
  checks?: readonly PostureCheck[];
}

/** The step id of a finding's fix: stable, so a resumed incident finds its journal rows. */
export const fixStepId = (findingId: string) => `fix:${findingId}`;

/**
 * `posture fix`: find the requested findings in a fresh run of their checks, decide for each whether
 * its fix is automated (and safe here), and build one playbook step per automated fix: plan, approval,
 * apply, then verification by re-running the finding's check.
 */
export function createPostureFix(deps: PostureFixDeps) {
  const checks = deps.checks ?? POSTURE_CHECKS;

  /**
   * Runs the checks the ids name and decides each id. Ids are finding ids as `posture --json`
   * prints them (`<check>:<subject>`); a bare check id is not taken (a fix is destructive: the
   * operator names each finding). Unknown ids throw before anything is decided.
   */
  async function resolve(
    ids: readonly string[],
    options: { since: Date; exportDir: string },
  ): Promise<{ decisions: FixDecision[]; server: string }> {
    const wanted = [...new Set(ids)];
    const known = new Set(checks.map((c) => c.id));
    const only = [...new Set(wanted.map((id) => id.slice(0, id.indexOf(':'))).filter((c) => known.has(c)))];
    const addr = deps.vault.addresses[0] ?? '';
    const report = only.length
      ? await createPosture({ ...deps, checks }).run({ since: options.since, only })
      : undefined;
    const byId = new Map((report?.findings ?? []).map((f) => [f.id, f]));
    const unknown = wanted.filter((id) => !byId.has(id));
    if (unknown.length) throw new UnknownFindingError(unknown, addr);
    const fixDeps = { ...deps, exportDir: options.exportDir };
    const decisions: FixDecision[] = [];
    for (const id of wanted) {
      const finding = byId.get(id)!;
      const fixer = fixerFor(finding);
      if (!fixer) {
        decisions.push({
          finding,
          status: 'manual',
          reason: `${finding.check} findings of this kind have no automated fix: apply the finding's fix by hand`,
        });
        continue;
      }
      const refused = await fixer.refuse?.(finding, fixDeps);
      decisions.push(
        refused === undefined
          ? { finding, status: 'planned', fixer }
          : { finding, status: 'refused', reason: refused },
      );
    }
    return { decisions, server: addr };
  }

  return { resolve };
}

export type PostureFix = ReturnType<typeof createPostureFix>;

/** One step per finding whose fix is automated, in the order asked. */
export function postureFixSteps(deps: PostureFixDeps, options: PostureFixOptions): Step[] {
  const fixDeps: FixDeps = { ...deps, exportDir: options.export_dir };
  const checks = deps.checks ?? POSTURE_CHECKS;
  return options.findings.map((finding) => {
    const fixer = fixerFor(finding);
    if (!fixer)
      throw new SealwatchError(
        'posture_fix_no_fixer',
        `finding ${finding.id} has no automated fix in this sealwatch: resume the incident with the version that started it`,
      );
    const check = checks.find((c) => c.id === finding.check);
    return {
      id: fixStepId(finding.id),
      title: `${fixer.title} (${finding.id})`,
      targetSeconds: FIX_TARGET_SECONDS,
      needsApproval: true,
      plan: (): Promise<PlanEntry[]> => fixer.plan(finding, fixDeps),
      run: (ctx: StepContext) => fixer.apply(finding, fixDeps, ctx),
      async verify() {
        if (!check)
          throw new SealwatchError('posture_fix_no_check', `check ${finding.check} is not in this sealwatch`);
        const now = new Date();
        const after = await check.run({ ...deps, since: new Date(options.since), now });
        const still = after.find((f) => f.id === finding.id);
        if (still)
          throw new SealwatchError(
            'posture_fix_still_found',
            `${finding.check} still reports ${finding.id}: ${still.title}`,
          );
        // A check that could not look has not shown the finding is gone.
        const blind = after.filter((f) => f.id.startsWith(`${finding.check}:could-not-read:`));
        if (blind.length)
          throw new SealwatchError(
            'posture_fix_unverified',
            `could not verify the fix of ${finding.id}: ${blind.map((f) => f.title).join('; ')}`,
          );
        return {
          ok: true,
          evidence: { check: finding.check, finding_gone: finding.id, checked_at: now.toISOString() },
        };
      },
    } satisfies Step;
  });
}

/** The playbook of a `posture-fix` incident, rebuilt from its journalled options (resume). */
export const postureFixPlaybook: PlaybookFactory = (deps, raw) => {
  const parsed = postureFixOptionsSchema.safeParse(raw);
  if (!parsed.success)
    throw new SealwatchError(
      'posture_fix_options',
      `the journalled options of this posture-fix incident do not parse: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return postureFixSteps(deps, parsed.data);
};
