import { dirname } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { createIncidents, newIncidentId } from '../../playbook/incident.service.js';
import type { PlaybookPlan } from '../../playbook/playbook.engine.js';
import type { PlanEntry } from '../../playbook/step.js';
import {
  createPostureFix,
  fixStepId,
  POSTURE_FIX_INCIDENT_TYPE,
  postureFixSteps,
  type FixDecision,
  type PostureFixOptions,
  UnknownFindingError,
} from '../../posture/fix.service.js';
import { incidentDirectory } from '../../respond/incident-files.js';
import { playbookHooks } from '../approval.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import type { CommandRunner } from '../runner.js';
import { pointInTime } from './assess.command.js';

interface FixFlags {
  dryRun: boolean;
  yes: boolean;
  since?: Date;
  exportDir?: string;
  incident?: string;
}

/** One entry of `posture fix --json` (docs/posture.md): what was asked, what was (or would be) done. */
export interface FixEntry {
  finding: string;
  check: string;
  title: string;
  status: 'planned' | 'fixed' | 'failed' | 'not-run' | 'manual' | 'refused';
  step?: string;
  actions?: PlanEntry[];
  reason?: string;
  manual_fix?: string;
  evidence?: Record<string, unknown>;
  verify?: Record<string, unknown>;
  error?: string;
}

/**
 * `posture fix ID...`: the automated fixes of posture findings, as a journalled playbook (an
 * incident of type posture-fix, resumable with incident resume). Added to the `posture` command by
 * its owner: `addPostureFix(posture, run)`.
 */
export function addPostureFix(posture: Command, run: CommandRunner): Command {
  return posture
    .command('fix <ids...>')
    .description(
      'apply the automated fixes of these findings (ids from posture --json): plan, approval, journal, then the check is run again to verify',
    )
    .option('--dry-run', 'print the plan; change nothing', false)
    .option('--yes', 'approve every fix without asking (needed without a terminal)', false)
    .option('--since <when>', 'audit window of the usage checks, as for posture (default 30d)', (v: string) =>
      pointInTime(v),
    )
    .option(
      '--export-dir <dir>',
      "where a mount's configuration is exported before it is disabled (default the incident's directory beside the store)",
    )
    .option('--incident <id>', 'incident id (default inc-YYYYMMDD-xxxx)')
    .addHelpText(
      'after',
      examples(
        'sealwatch posture fix root-tokens:accessor:R4le1eIaXNGxgIYrD9caLojj --dry-run',
        'sealwatch posture fix token-ttl:mount:approle/:max_lease_ttl auth-unused:mount:userpass/ --yes',
        'sealwatch posture fix policy-cross-tenant:acme-app:approle/acme-app --yes --json',
      ),
    )
    .action(
      run(async (ctx: CliContext, flags: FixFlags, ...ids: string[]) => {
        const bad = ids.filter((id) => !/^[a-z0-9-]+:.+/.test(id));
        if (bad.length)
          throw new UsageError(
            `${bad.join(', ')}: not a finding id (<check>:<subject>, as sealwatch posture --json prints them; a check id alone is not taken)`,
          );
        const config = ctx.config();
        const store = await ctx.store();
        const vault = ctx.vault();
        const incidentId = flags.incident ?? newIncidentId();
        const storeDir = config.store.url.startsWith('postgres') ? '.sealwatch' : dirname(config.store.url);
        const exportDir = flags.exportDir ?? incidentDirectory({ storeDir }, incidentId);
        const since = flags.since ?? pointInTime('30d');
        const deps = { vault, store, config, logger: ctx.logger.child({ component: 'posture-fix' }) };
        let decisions: FixDecision[];
        try {
          ({ decisions } = await createPostureFix(deps).resolve(ids, { since, exportDir }));
        } catch (error) {
          // An id the posture does not report is bad input (exit 2), like an unknown flag value.
          if (error instanceof UnknownFindingError) throw new UsageError(error.message, { cause: error });
          throw error;
        }

        const options: PostureFixOptions = {
          since: since.toISOString(),
          export_dir: exportDir,
          findings: decisions.filter((d) => d.status === 'planned').map((d) => d.finding),
        };
        const steps = postureFixSteps(deps, options);
        const incidents = createIncidents({ store, logger: ctx.logger, playbooks: {} });
        const plan = await incidents.plan(steps, options);
        const planned = entries(decisions, plan);

        if (flags.dryRun) {
          render(ctx, { dry_run: true, fixes: planned }, 'plan (dry run: nothing changed)');
          return EXIT.ok;
        }
        if (steps.length === 0) {
          render(ctx, { dry_run: false, fixes: planned }, 'nothing to apply');
          return exitFor(planned);
        }
        const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
        if (!flags.yes && !interactive)
          throw new UsageError(
            'posture fix changes the server: pass --yes, or run it on a terminal to approve each fix (--dry-run shows the plan)',
          );
        const incident = await incidents.declare({
          id: incidentId,
          type: POSTURE_FIX_INCIDENT_TYPE,
          steps,
          severity: 'medium',
          options,
        });
        ctx.progress(
          `incident ${incident.id} (posture fix, ${steps.length} fix${steps.length > 1 ? 'es' : ''}); resume with: sealwatch incident resume ${incident.id}`,
        );
        const { hooks, dispose } = playbookHooks(ctx, { yes: flags.yes });
        let result;
        try {
          result = await incidents.run(incident.id, steps, hooks);
        } finally {
          dispose();
        }
        const journal = new Map((await incidents.show(incident.id)).steps.map((s) => [s.step_id, s]));
        const done = planned.map((entry): FixEntry => {
          const row = entry.step === undefined ? undefined : journal.get(entry.step);
          if (!row) return entry;
          const { actions: _actions, ...rest } = entry;
          if (row.status === 'done')
            return {
              ...rest,
              status: 'fixed',
              ...(row.evidence && { evidence: row.evidence }),
              ...(row.verify_evidence && { verify: row.verify_evidence }),
            };
          if (row.status === 'failed')
            return {
              ...rest,
              status: 'failed',
              ...(row.evidence && { evidence: row.evidence }),
              error: row.error ?? 'failed',
            };
          return { ...rest, status: 'not-run' };
        });
        render(
          ctx,
          { dry_run: false, incident_id: incident.id, state: result.state, fixes: done },
          `incident ${incident.id}: ${result.state}`,
        );
        if (result.state !== 'completed' && result.message) ctx.out.error(`sealwatch: ${result.message}`);
        return exitFor(done);
      }),
    );
}

function entries(decisions: readonly FixDecision[], plan: PlaybookPlan): FixEntry[] {
  const byStep = new Map(plan.steps.map((s) => [s.id, s]));
  return decisions.map((d): FixEntry => {
    const base = { finding: d.finding.id, check: d.finding.check, title: d.finding.title };
    switch (d.status) {
      case 'planned': {
        const step = fixStepId(d.finding.id);
        return { ...base, status: 'planned', step, actions: byStep.get(step)?.actions ?? [] };
      }
      case 'manual':
        return { ...base, status: 'manual', reason: d.reason, manual_fix: d.finding.fix };
      case 'refused':
        return { ...base, status: 'refused', reason: d.reason, manual_fix: d.finding.fix };
    }
  });
}

/** 0 when every fix asked for was applied and verified or is manual; 1 when one failed, was refused or did not run. */
const exitFor = (fixes: readonly FixEntry[]) =>
  fixes.some(
    (f) =>
      f.status === 'failed' || f.status === 'refused' || f.status === 'not-run' || f.status === 'planned',
  )
    ? EXIT.failure
    : EXIT.ok;

function render(
  ctx: CliContext,
  result: { dry_run: boolean; incident_id?: string; state?: string; fixes: FixEntry[] },
  heading: string,
): void {
  if (ctx.json) return ctx.out.json(result);
  ctx.out.line(`posture fix — ${heading}`);
  for (const f of result.fixes) {
    ctx.out.line(`\n[${f.status}] ${f.finding}: ${f.title}`);
    for (const a of f.actions ?? []) ctx.out.line(`  ${a.destructive ? '!' : '-'} ${a.action}`);
    if (f.reason) ctx.out.line(`  why: ${f.reason}`);
    if (f.manual_fix) ctx.out.line(`  by hand: ${f.manual_fix.split('\n')[0]}`);
    if (f.error) ctx.out.line(`  error: ${f.error}`);
  }
}
