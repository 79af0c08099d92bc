import { NOTIFY_AUDIENCES, type NotifyAudience } from '../../respond/steps/notify.step.js';
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { createIncidents } from '../../playbook/incident.service.js';
import type { PlaybookResult } from '../../playbook/playbook.engine.js';
import type { PlaybookRegistry, PlaybookRuntime } from '../../playbook/registry.js';
import {
  formatSeconds,
  renderReport,
  type IncidentReport,
  type ReportFormat,
} from '../../playbook/report.js';
import { playbookHooks } from '../approval.js';
import { playbookRuntime } from '../runtime.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';
import { ASSESS_SCOPES, type AssessScope } from '../../config/suspect.js';
import { collectSuspect, NOTIFY_HELP, SCOPE_HELP, SUSPECT_HELP, suspectTexts } from '../arguments.js';

async function incidents(ctx: CliContext, given: PlaybookRegistry | undefined, runtime?: PlaybookRuntime) {
  const store = await ctx.store();
  // Every playbook pulls in the breach response and its clients; listing or showing needs none.
  const playbooks = given ?? (await import('../playbooks.js')).PLAYBOOKS;
  return createIncidents({
    store,
    logger: ctx.logger,
    playbooks,
    playbookDeps: () => ({
      vault: ctx.vault(),
      store,
      config: ctx.config(),
      logger: ctx.logger,
      ...(runtime ? { runtime } : {}),
      site: ctx.site(),
    }),
  });
}

function reference(id: string | undefined, last: boolean): string {
  if ((id === undefined) === !last) throw new UsageError('say which incident: an ID or --last (not both)');
  return id ?? 'last';
}

/** Prints how a run ended; the exit code is 0 only when the incident completed. */
export async function renderRunResult(
  ctx: CliContext,
  result: PlaybookResult,
  report: () => Promise<IncidentReport>,
): Promise<number> {
  const full = await report();
  if (ctx.json) ctx.out.json(full);
  else {
    ctx.out.line(
      `incident ${full.incident_id}: ${full.state} — RTO ${formatSeconds(full.rto_seconds)} (procedure target ${formatSeconds(full.target_seconds)})`,
    );
    ctx.out.table(
      full.steps.map((s) => ({
        step: s.id,
        status: s.status,
        measured: s.measured_seconds === null ? '-' : formatSeconds(s.measured_seconds),
        target: formatSeconds(s.target_seconds),
        attempts: s.attempts,
      })),
    );
  }
  if (result.state !== 'completed' && result.message) ctx.out.error(`sealwatch: ${result.message}`);
  return result.state === 'completed' ? EXIT.ok : EXIT.failure;
}

export function incidentCommand(run: CommandRunner, playbooks?: PlaybookRegistry): Command {
  const incident = new Command('incident').description(
    'incidents and their playbooks: list, show the journal, resume after a crash or refusal, report',
  );

  incident
    .command('list')
    .description('incidents, newest first')
    .option('--limit <n>', 'at most this many', (v) => Number.parseInt(v, 10), 50)
    .addHelpText('after', examples('sealwatch incident list --limit 10'))
    .action(
      run(async (ctx: CliContext, opts: { limit: number }) => {
        const list = await (await incidents(ctx, playbooks)).list(opts.limit);
        if (ctx.json)
          return ctx.out.json({
            incidents: list.map(({ options: _options, owner: _owner, ...i }) => i),
          });
        if (list.length === 0) return ctx.out.line('no incidents');
        ctx.out.table(
          list.map((i) => ({
            id: i.id,
            type: i.type,
            severity: i.severity,
            state: i.state,
            declared_by: i.declared_by,
            created: i.created_at,
            completed: i.completed_at,
          })),
        );
      }),
    );

  incident
    .command('show [id]')
    .description('an incident: its steps with status, measured and target time, evidence, and its timeline')
    .option('--last', 'the newest unfinished incident', false)
    .addHelpText(
      'after',
      examples('sealwatch incident show --last', 'sealwatch incident show inc-20260501-a1b2 --json'),
    )
    .action(
      run(async (ctx: CliContext, opts: { last: boolean }, id?: string) => {
        const detail = await (await incidents(ctx, playbooks)).show(reference(id, opts.last));
        const { owner: _owner, ...shown } = detail.incident;
        if (ctx.json)
          return ctx.out.json({
            incident: shown,
            steps: detail.steps.map(({ incident_id: _i, ...s }) => s),
            events: detail.events.map(({ incident_id: _i, id: _id, ...e }) => e),
          });
        const i = detail.incident;
        ctx.out.line(`incident ${i.id} (${i.type}, ${i.severity}): ${i.state}`);
        ctx.out.line(
          `declared by ${i.declared_by} at ${i.created_at}${i.completed_at ? `, completed ${i.completed_at}` : ''}`,
        );
        ctx.out.line();
        ctx.out.table(
          detail.steps.map((s) => ({
            step: s.step_id,
            status: s.status,
            approval: s.needs_approval ? 'yes' : '',
            started: s.started_at,
            measured: s.measured_seconds === null ? null : formatSeconds(s.measured_seconds),
            target: formatSeconds(s.target_seconds),
            attempts: s.attempts,
            evidence: s.error ? `error: ${s.error}` : s.evidence,
          })),
        );
      }),
    );

  incident
    .command('resume [id]')
    .description(
      'continue an incident where it stopped (crash, failure, refused approval); done steps are not run again',
    )
    .option('--last', 'the newest unfinished incident', false)
    .option('--yes', 'approve every step that needs approval', false)
    .option('--take-over', 'take the incident over from a process on another host that is gone', false)
    .option(
      '--unseal-keys-file <file>',
      'current unseal (or recovery) key shares, one per line (steps that need them)',
    )
    .option('--unseal-keys-stdin', 'read the current key shares from standard input', false)
    .option('--suspect <kind:value>', `${SUSPECT_HELP} (added to the incident's)`, collectSuspect)
    .addOption(
      new Option('--scope <scope>', `${SCOPE_HELP} (replaces the incident's)`).choices([...ASSESS_SCOPES]),
    )
    .addOption(
      new Option('--notify <who>', `${NOTIFY_HELP} (replaces the incident's)`).choices([...NOTIFY_AUDIENCES]),
    )
    .addHelpText(
      'after',
      examples(
        'sealwatch incident resume --last',
        'sealwatch incident resume --last --yes --suspect role:approle/mailer',
        'sealwatch incident resume inc-20260501-a1b2 --yes --unseal-keys-file keys.txt',
      ),
    )
    .action(
      run(
        async (
          ctx: CliContext,
          opts: {
            last: boolean;
            yes: boolean;
            takeOver: boolean;
            unsealKeysFile?: string;
            unsealKeysStdin: boolean;
            suspect?: string[];
            scope?: AssessScope;
            notify?: NotifyAudience;
          },
          id?: string,
        ) => {
          if (opts.unsealKeysFile && opts.unsealKeysStdin)
            throw new UsageError('give --unseal-keys-file or --unseal-keys-stdin, not both');
          const tokenStdin = opts.suspect?.some((s) => s.startsWith('token-stdin')) ?? false;
          if (tokenStdin && opts.unsealKeysStdin)
            throw new UsageError(
              '--suspect token-stdin and --unseal-keys-stdin both read standard input: give the shares with --unseal-keys-file',
            );
          const service = await incidents(
            ctx,
            playbooks,
            playbookRuntime({ ...opts, leakedValueStdin: tokenStdin }),
          );
          const target = await service.resolve(reference(id, opts.last));
          const amend = amendedOptions(target.options, opts);
          const { hooks, dispose } = playbookHooks(ctx, opts);
          try {
            ctx.progress(`resuming incident ${target.id} (${target.type}, ${target.state})`);
            const result = await service.resume(target.id, hooks, amend);
            return await renderRunResult(ctx, result, () => service.report(target.id));
          } finally {
            dispose();
          }
        },
      ),
    );

  incident
    .command('report <id>')
    .description(
      'the incident report: timeline with measured vs target time, RTO, actions, tenants, failures, follow-ups',
    )
    .addOption(
      new Option('--format <format>', 'md, html or json (--json means json)').choices(['md', 'html', 'json']),
    )
    .option('--out <file>', 'write the report to this file instead of stdout')
    .addHelpText(
      'after',
      examples(
        'sealwatch incident report inc-20260501-a1b2',
        'sealwatch incident report inc-20260501-a1b2 --format html --out report.html',
      ),
    )
    .action(
      run(async (ctx: CliContext, opts: { format?: ReportFormat; out?: string }, id: string) => {
        const service = await incidents(ctx, playbooks);
        const format: ReportFormat = opts.format ?? (ctx.json ? 'json' : 'md');
        const text = renderReport(await service.report(id === 'last' ? 'last' : id), format);
        if (opts.out) {
          writeFileSync(opts.out, text, { mode: 0o640 });
          ctx.progress(`report written to ${opts.out}`);
        } else ctx.out.line(text.replace(/\n$/, ''));
      }),
    );
  incident.addHelpText('after', examples('sealwatch incident list', 'sealwatch incident resume --last'));
  return incident;
}

/** What `incident resume --suspect/--scope/--notify` changes in the journalled options: suspects are added, the scope and audience replaced. */
function amendedOptions(
  journalled: Readonly<Record<string, unknown>>,
  opts: { suspect?: string[]; scope?: AssessScope; notify?: NotifyAudience },
): Record<string, unknown> | undefined {
  if (!opts.suspect?.length && !opts.scope && !opts.notify) return undefined;
  const before = Array.isArray(journalled['suspects'])
    ? journalled['suspects'].filter((s): s is string => typeof s === 'string')
    : [];
  return {
    ...(opts.suspect?.length ? { suspects: suspectTexts(before, opts.suspect) } : {}),
    ...(opts.scope ? { scope: opts.scope } : {}),
    ...(opts.notify ? { notify: opts.notify } : {}),
  };
}
