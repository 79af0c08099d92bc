import { Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { createIncidents, SEVERITIES, type Severity } from '../../playbook/incident.service.js';
import { atOrAbove, FINDING_SEVERITIES, type Finding, type FindingSeverity } from '../../runbooks/finding.js';
import { RUNBOOK_NAMES, RUNBOOKS, runbookIncidentType, runbookNamed } from '../../runbooks/registry.js';
import { diagnose, runbookPlaybook, type Runbook, type RunbookFlag } from '../../runbooks/runbook.js';
import { playbookHooks } from '../approval.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import type { CommandRunner } from '../runner.js';
import { playbookRuntime } from '../runtime.js';
import { renderRunResult } from './incident.command.js';
import { examples } from '../help.js';

/** A diagnosis must answer in seconds even when a node hangs. */
const DIAGNOSE_TIMEOUT_MS = 2_500;

interface CommonFlags {
  failOn?: FindingSeverity;
  yes?: boolean;
  dryRun?: boolean;
  incident?: string;
  severity?: Severity;
  unsealKeysFile?: string;
  unsealKeysStdin?: boolean;
  [flag: string]: unknown;
}

const COMMON = new Set([
  'failOn',
  'yes',
  'dryRun',
  'incident',
  'severity',
  'unsealKeysFile',
  'unsealKeysStdin',
]);

/** Every runbook's own flags, once each (two runbooks may share a flag with the same meaning). */
function runbookFlags(forDiagnose: boolean): { flag: RunbookFlag; owners: string[] }[] {
  const byFlags = new Map<string, { flag: RunbookFlag; owners: string[] }>();
  for (const runbook of Object.values<Runbook>(RUNBOOKS))
    for (const flag of runbook.flags) {
      if (forDiagnose && !flag.diagnose) continue;
      const seen = byFlags.get(flag.flags);
      if (seen) seen.owners.push(runbook.name);
      else byFlags.set(flag.flags, { flag, owners: [runbook.name] });
    }
  return [...byFlags.values()];
}

function addRunbookFlags(command: Command, forDiagnose: boolean): Command {
  for (const { flag, owners } of runbookFlags(forDiagnose)) {
    const option = new Option(flag.flags, `${flag.description} [${owners.join(', ')}]`);
    if (flag.parse) option.argParser(flag.parse);
    command.addOption(option);
  }
  return command;
}

/** The runbook by name, and its options from the flags; a flag another runbook owns is a usage error. */
function resolveRunbook(command: Command, name: string, flags: CommonFlags) {
  const runbook = runbookNamed(name);
  if (!runbook) throw new UsageError(`unknown runbook ${name} (runbooks: ${RUNBOOK_NAMES.join(', ')})`);
  // commander's attribute name → the option key the runbook parses (`wait` → `waitMs`).
  const own = new Map(runbook.flags.map((f) => [new Option(f.flags, '').attributeName(), f.key]));
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (COMMON.has(key) || value === undefined) continue;
    if (!own.has(key)) {
      const option = command.options.find((o) => o.attributeName() === key);
      throw new UsageError(`runbook ${name} does not take ${option?.long ?? key}`);
    }
    raw[own.get(key) ?? key] = value;
  }
  const parsed = runbook.options.safeParse(raw);
  if (!parsed.success)
    throw new UsageError(
      `runbook ${name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`,
    );
  return { runbook, options: parsed.data };
}

function renderFindings(ctx: CliContext, name: string, healthy: boolean, findings: readonly Finding[]): void {
  ctx.out.line(`${name}: ${healthy ? 'healthy' : 'NOT healthy'} — ${findings.length} finding(s)`);
  for (const f of findings) {
    ctx.out.line(`\n[${f.severity}] ${f.id}${f.node ? ` @ ${f.node}` : ''}: ${f.symptom}`);
    const evidence = Object.entries(f.evidence)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    if (evidence) ctx.out.line(`  evidence: ${evidence}`);
    ctx.out.line(`  next: ${f.suggested_step}`);
  }
}

export function runbookCommand(run: CommandRunner): Command {
  const runbook = new Command('runbook').description(
    'diagnose and remediate the common Vault/OpenBao incidents: sealed, leader election, memory, auth failures, storage, certificates, secret leak, cluster failure',
  );

  runbook
    .command('list')
    .description('the runbooks and when to use each')
    .addHelpText('after', examples('sealwatch runbook list'))
    .action(
      run(async (ctx: CliContext) => {
        const rows = Object.values<Runbook>(RUNBOOKS).map((r) => ({
          name: r.name,
          title: r.title,
          when: r.when,
        }));
        if (ctx.json) return ctx.out.json({ runbooks: rows });
        ctx.out.table(rows);
      }),
    );

  const diagnoseCommand = runbook
    .command('diagnose <name>')
    .description(
      'check the cluster for this incident: findings with symptom, evidence, severity and the next step',
    )
    .addOption(
      new Option('--fail-on <severity>', 'exit 3 when a finding has at least this severity').choices([
        ...FINDING_SEVERITIES,
      ]),
    )
    .addHelpText(
      'after',
      examples(
        'sealwatch runbook diagnose sealed',
        'sealwatch runbook diagnose leader-election --fail-on high --json',
        'sealwatch runbook diagnose secret-leak --value-file leaked.txt',
      ),
    );
  addRunbookFlags(diagnoseCommand, true).action(
    run(async (ctx: CliContext, flags: CommonFlags, name: string) => {
      const { runbook: chosen, options } = resolveRunbook(diagnoseCommand, name, flags);
      const deps = await ctx.playbookDeps(
        playbookRuntime({ leakedValueStdin: flags['tokenStdin'] === true }),
        ctx.vault({ timeoutMs: DIAGNOSE_TIMEOUT_MS, retries: 0 }),
      );
      const result = await diagnose(chosen, deps, options);
      if (ctx.json) ctx.out.json(result);
      else renderFindings(ctx, result.runbook, result.healthy, result.findings);
      if (flags.failOn && atOrAbove(result.findings, flags.failOn).length > 0) return EXIT.findings;
    }),
  );

  const runCommand = runbook
    .command('run <name>')
    .description(
      'diagnose, then remediate step by step (journalled, resumable with incident resume), then verify',
    )
    .option('--incident <id>', 'incident id (default inc-YYYYMMDD-xxxx)')
    .addOption(new Option('--severity <level>', 'incident severity').choices([...SEVERITIES]).default('high'))
    .option('--unseal-keys-file <file>', 'current unseal (or recovery) key shares, one per line')
    .option('--unseal-keys-stdin', 'read the current key shares from standard input', false)
    .option('--yes', 'approve every step that needs approval', false)
    .option('--dry-run', 'diagnose and print the plan; change nothing', false)
    .addHelpText(
      'after',
      examples(
        'sealwatch runbook run sealed --unseal-keys-file keys.txt',
        'sealwatch runbook run memory --prefix auth/approle/login/ --dry-run',
        'sealwatch runbook run auth-failures --role approle/mailer --secret-id-out mailer.secret-id --yes',
      ),
    );
  addRunbookFlags(runCommand, false).action(
    run(async (ctx: CliContext, flags: CommonFlags, name: string) => {
      if (flags.unsealKeysFile && flags.unsealKeysStdin)
        throw new UsageError('give --unseal-keys-file or --unseal-keys-stdin, not both');
      const { runbook: chosen, options } = resolveRunbook(runCommand, name, flags);
      const store = await ctx.store();
      const runtime = playbookRuntime({
        ...(flags.unsealKeysFile ? { unsealKeysFile: flags.unsealKeysFile } : {}),
        unsealKeysStdin: flags.unsealKeysStdin ?? false,
        leakedValueStdin: flags['tokenStdin'] === true,
      });
      const deps = await ctx.playbookDeps(runtime);
      // Every playbook (to resume any incident) pulls in the breach response: only a run needs it.
      const { PLAYBOOKS } = await import('../playbooks.js');
      const incidents = createIncidents({
        store,
        logger: ctx.logger,
        playbooks: PLAYBOOKS,
        playbookDeps: () => deps,
      });
      const steps = await runbookPlaybook(chosen)(deps, options);
      if (flags.dryRun) {
        const plan = await incidents.plan(steps, options);
        if (ctx.json) return ctx.out.json({ dry_run: true, runbook: chosen.name, ...plan });
        ctx.out.line(`runbook ${chosen.name} — plan (dry run: nothing changed)`);
        for (const step of plan.steps) {
          ctx.out.line(
            `\n${step.id}: ${step.title}${step.needs_approval ? ' [needs approval]' : ''}${step.skip ? ` — skipped: ${step.skip}` : ''}`,
          );
          for (const entry of step.actions)
            ctx.out.line(`  ${entry.destructive ? '!' : '-'} ${entry.action}`);
        }
        return;
      }
      const incident = await incidents.declare({
        type: runbookIncidentType(chosen.name),
        steps,
        severity: flags.severity ?? 'high',
        options,
        ...(flags.incident ? { id: flags.incident } : {}),
      });
      ctx.progress(
        `incident ${incident.id} (runbook ${chosen.name}); resume with: sealwatch incident resume ${incident.id}`,
      );
      const { hooks, dispose } = playbookHooks(ctx, { yes: flags.yes ?? false });
      try {
        const result = await incidents.run(incident.id, steps, hooks);
        return await renderRunResult(ctx, result, () => incidents.report(incident.id));
      } finally {
        dispose();
      }
    }),
  );
  runbook.addHelpText('after', examples('sealwatch runbook list', 'sealwatch runbook diagnose sealed'));
  return runbook;
}
