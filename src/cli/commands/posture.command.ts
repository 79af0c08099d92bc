import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { FINDING_SEVERITIES, type FindingSeverity } from '../../runbooks/finding.js';
import { POSTURE_AREAS, type PostureFinding } from '../../posture/check.js';
import { POSTURE_CHECK_IDS } from '../../posture/checks/index.js';
import {
  createPosture,
  failsAt,
  type Posture,
  type PostureDiff,
  type PostureReport,
} from '../../posture/posture.service.js';
import { renderHtml } from '../../posture/report/html.js';
import { renderMarkdown } from '../../posture/report/markdown.js';
import { renderSarif } from '../../posture/report/sarif.js';
import { findingSubject } from '../../posture/report/subject.js';
import { SEALWATCH_VERSION } from '../../version.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import { renderTable } from '../output.js';
import type { CommandRunner } from '../runner.js';
import { pointInTime } from './assess.command.js';
import { addPostureAccess } from './posture-access.js';
import { addPostureFix } from './posture-fix.js';

const FORMATS = ['table', 'json', 'sarif', 'html', 'md'] as const;
type Format = (typeof FORMATS)[number];

interface RunOptions {
  since?: Date;
  only?: string[];
}

interface PostureOptions extends RunOptions {
  format?: Format;
  failOn?: FindingSeverity;
  output?: string;
}

/** `--only root-tokens,seal`: check ids from the registry. */
function checkIds(value: string): string[] {
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = ids.filter((id) => !POSTURE_CHECK_IDS.includes(id));
  if (unknown.length)
    throw new InvalidArgumentError(
      `unknown check ${unknown.join(', ')}; checks: ${POSTURE_CHECK_IDS.join(', ')}`,
    );
  return ids;
}

/** --since and --only, shared by the audit and its baseline and diff. */
function withRunOptions(command: Command): Command {
  return command
    .option(
      '--since <when>',
      'start of the audit window the usage checks read: a duration back from now or an ISO time (default 30d)',
      (v: string) => pointInTime(v),
    )
    .option(
      '--only <ids>',
      `run only these checks (comma-separated: ${POSTURE_CHECK_IDS.join(', ')})`,
      checkIds,
    );
}

async function postureFor(ctx: CliContext): Promise<Posture> {
  return createPosture({
    vault: ctx.vault(),
    store: await ctx.store(),
    config: ctx.config(),
    logger: ctx.logger.child({ component: 'posture' }),
  });
}

const runFor = (posture: Posture, opts: RunOptions) =>
  // The default is computed here: "30d" means 30 days before this run.
  posture.run({ since: opts.since ?? pointInTime('30d'), ...(opts.only && { only: opts.only }) });

export function postureCommand(run: CommandRunner): Command {
  const command = withRunOptions(
    new Command('posture')
      .description(
        'hardening audit of the server and its audit store: root tokens, token TTLs, unused auth methods, audit devices, seal, TLS; scored, with the fix for each finding',
      )
      .addOption(
        new Option('--format <format>', 'report format (default table; --json means json)').choices(FORMATS),
      )
      .addOption(
        new Option('--fail-on <severity>', 'exit 3 when a finding has at least this severity').choices(
          FINDING_SEVERITIES,
        ),
      )
      .option('--output <file>', 'write the report to this file instead of stdout'),
  )
    .addHelpText(
      'after',
      examples(
        'sealwatch posture',
        'sealwatch posture --format sarif --output posture.sarif --fail-on high',
        'sealwatch posture --only root-tokens,seal --json',
        'sealwatch posture --format html --output posture.html --since 7d',
        'sealwatch posture baseline',
        'sealwatch posture diff --fail-on-new',
        'sealwatch posture fix root-tokens:accessor:R4le1eIaXNGxgIYrD9caLojj --dry-run',
      ),
    )
    .action(
      run(async (ctx: CliContext, opts: PostureOptions) => {
        const report = await runFor(await postureFor(ctx), opts);
        const format: Format = opts.format ?? (ctx.json ? 'json' : 'table');
        const text = renderReport(report, format);
        if (opts.output) {
          writeFileSync(opts.output, text);
          ctx.progress(
            `posture report (${format}) written to ${opts.output}: score ${report.score.overall}/100, ${report.findings.length} findings`,
          );
        } else ctx.out.line(text.replace(/\n$/, ''));
        if (opts.failOn && failsAt(report.findings, opts.failOn)) return EXIT.findings;
      }),
    );

  command.addCommand(
    withRunOptions(new Command('baseline'))
      .description('store the current findings as the baseline that posture diff compares against')
      .addHelpText(
        'after',
        examples('sealwatch posture baseline', 'sealwatch posture baseline --since 7d --json'),
      )
      .action(
        run(async (ctx: CliContext, opts: RunOptions) => {
          const posture = await postureFor(ctx);
          const report = await runFor(posture, opts);
          const saved = await posture.saveBaseline(report);
          const result = { baseline: saved, server: report.server, score: report.score };
          if (ctx.json) ctx.out.json(result);
          else
            ctx.out.line(
              `baseline ${saved.id} of ${report.server.addr} stored at ${saved.taken_at}: ${saved.findings} findings, score ${report.score.overall}/100`,
            );
        }),
      ),
  );

  command.addCommand(
    withRunOptions(new Command('diff'))
      .description('new, fixed and changed findings since the newest baseline of this server')
      .option('--fail-on-new', 'exit 3 when there is a new finding (the CI gate)', false)
      .addHelpText('after', examples('sealwatch posture diff', 'sealwatch posture diff --json --fail-on-new'))
      .action(
        run(async (ctx: CliContext, opts: RunOptions & { failOnNew: boolean }) => {
          const posture = await postureFor(ctx);
          const diff = await posture.diff(await runFor(posture, opts));
          if (ctx.json) ctx.out.json(diff);
          else renderDiff(ctx, diff);
          if (opts.failOnNew && diff.new.length) return EXIT.findings;
        }),
      ),
  );
  addPostureAccess(command, run);
  addPostureFix(command, run);
  return command;
}

function renderReport(report: PostureReport, format: Format): string {
  switch (format) {
    case 'json':
      return JSON.stringify(report, null, 2) + '\n';
    case 'sarif':
      return JSON.stringify(renderSarif(report, { version: SEALWATCH_VERSION }), null, 2) + '\n';
    case 'html':
      return renderHtml(report);
    case 'md':
      return renderMarkdown(report);
    case 'table':
      return renderText(report);
  }
}

/** For a terminal: the score, then the findings grouped by area (worst first), then what could not be checked. */
function renderText(report: PostureReport): string {
  const parts = [
    `posture of ${report.server.addr} (${report.server.version}): ${report.score.overall}/100  ` +
      Object.entries(report.score.by_area)
        .map(([area, score]) => `${area} ${score}`)
        .join(', '),
    `audit window since ${report.since}`,
  ];
  for (const area of POSTURE_AREAS) {
    const findings = report.findings.filter((f) => f.area === area);
    if (!findings.length) continue;
    parts.push('', `${area.toUpperCase()}`, renderTable(findings.map(row)).replace(/\n$/, ''));
  }
  if (!report.findings.length) parts.push('', 'no findings');
  for (const c of report.checks.filter((c) => c.status === 'could-not-check'))
    parts.push(`could not check ${c.id}: ${c.error ?? ''}`);
  return parts.join('\n') + '\n';
}

const row = (f: PostureFinding) => ({
  severity: f.severity,
  subject: findingSubject(f),
  finding: f.title,
  fix: f.fix.includes('\n') ? `${f.fix.split('\n')[0]} … (the whole stanza: --format md or --json)` : f.fix,
});

function renderDiff(ctx: CliContext, diff: PostureDiff): void {
  ctx.out.line(
    `since baseline ${diff.baseline.id} (${diff.baseline.taken_at}): ${diff.new.length} new, ${diff.fixed.length} fixed, ${diff.changed.length} changed, ${diff.unchanged} unchanged`,
  );
  const rows = [
    ...diff.new.map((f) => ({ change: 'new', ...row(f) })),
    ...diff.fixed.map((f) => ({ change: 'fixed', ...row(f) })),
    ...diff.changed.map((c) => ({ change: `changed (${c.fields.join(',')})`, ...row(c.after) })),
  ];
  if (rows.length) {
    ctx.out.line();
    ctx.out.table(rows);
  }
}
