import { Command, InvalidArgumentError, Option } from 'commander';
import { assess, type BreachAssessment } from '../../assess/assess.service.js';
import { SEVERITY_RANK, type Severity } from '../../assess/rule.js';
import { parseDuration } from '../../util/duration.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import type { CommandRunner } from '../runner.js';
import { collectSuspect, positiveInt, SCOPE_HELP, SUSPECT_HELP, suspectTexts } from '../arguments.js';
import { scopeInputs } from '../../assess/scope-inputs.js';
import { ASSESS_SCOPES, type AssessScope } from '../../config/suspect.js';
import { readStdinText } from '../runtime.js';
import { examples } from '../help.js';

interface AssessOptions {
  since?: Date;
  until?: Date;
  limit: number;
  failOn?: Severity;
  suspect?: string[];
  scope: AssessScope;
}

/** A moment given as a duration back from now (24h) or an ISO-8601 time. */
export function pointInTime(value: string, now = Date.now()): Date {
  const ago = parseDuration(value);
  if (ago !== undefined) return new Date(now - ago);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed) || !/^\d{4}-\d{2}-\d{2}/.test(value))
    throw new InvalidArgumentError('must be a duration back from now (30m, 24h, 7d) or an ISO-8601 time');
  return new Date(parsed);
}

export function assessCommand(run: CommandRunner): Command {
  return new Command('assess')
    .description(
      'breach assessment from the audit store: suspicious events, secrets read, affected tenants, actors',
    )
    .option(
      '--since <when>',
      'start of the window: a duration back from now or an ISO time (default 24h)',
      (v: string) => pointInTime(v),
    )
    .option('--until <when>', 'end of the window (default now)', (v: string) => pointInTime(v))
    .option('--limit <n>', 'most suspicious events listed (all are counted)', positiveInt, 1000)
    .option('--suspect <kind:value>', SUSPECT_HELP, collectSuspect)
    .addOption(new Option('--scope <scope>', SCOPE_HELP).choices([...ASSESS_SCOPES]).default('implicated'))
    .addOption(
      new Option('--fail-on <severity>', 'exit 3 when a finding has at least this severity').choices(
        Object.keys(SEVERITY_RANK),
      ),
    )
    .addHelpText(
      'after',
      examples(
        'sealwatch assess --since 24h',
        'sealwatch assess --since 2026-05-01T00:00:00Z --until 2026-05-02T00:00:00Z --fail-on high --json',
        'sealwatch assess --since 48h --suspect role:approle/mailer --suspect address:203.0.113.0/24',
        'sealwatch assess --since 48h --scope conservative --json',
      ),
    )
    .action(
      run(async (ctx: CliContext, opts: AssessOptions) => {
        const config = ctx.config();
        const suspects = suspectTexts(config.suspects, opts.suspect);
        const store = await ctx.store();
        // Without a token the store is assessed alone: the responder's reads cannot be told apart.
        const withVault = ctx.credentials().token !== undefined;
        const inputs = await scopeInputs(
          { suspects, scope: opts.scope },
          {
            vault: ctx.vault(),
            config,
            readTokenStdin: () => readStdinText(),
            lookUpResponder: withVault,
          },
        );
        const result = await assess(
          // The default is computed here, not at program build time: "24h" means 24 h before the run.
          {
            since: opts.since ?? pointInTime('24h'),
            until: opts.until,
            limit: opts.limit,
            ...inputs.request,
          },
          {
            analysis: store.auditAnalysis,
            revoked: store.revokedAccessors,
            config,
            logger: ctx.logger.child({ component: 'assess' }),
            allTenants: inputs.allTenants,
            ...(inputs.couldRead ? { couldRead: inputs.couldRead } : {}),
          },
        );
        if (ctx.json) ctx.out.json(result);
        else renderAssessment(ctx, result);
        const failOn = opts.failOn;
        // A window nothing could be assessed in is not a pass: it fails the gate like a finding.
        if (failOn && result.could_not_assess !== null) return EXIT.findings;
        // So is a scope nobody decided: secrets were read, and no actor is implicated.
        if (failOn && result.scope_decision !== null) return EXIT.findings;
        if (
          failOn &&
          result.rules.some((r) => r.events > 0 && SEVERITY_RANK[r.severity] >= SEVERITY_RANK[failOn])
        )
          return EXIT.findings;
      }),
    );
}

function renderAssessment(ctx: CliContext, r: BreachAssessment): void {
  const out = ctx.out;
  if (r.could_not_assess !== null) {
    // Zeros here would read as "nothing happened": say what was not looked at, and nothing else.
    out.line(`could not assess: ${r.could_not_assess}`);
    out.line(`window             ${r.window.since} .. ${r.window.until} (0 events)`);
    return;
  }
  if (r.scope_decision !== null) out.line(`warning: ${r.scope_decision}`);
  out.line(`window             ${r.window.since} .. ${r.window.until} (${r.events_examined} events)`);
  if (r.data_since !== null) out.line(`data only from     ${r.data_since}: nothing before it was looked at`);
  out.line(`breach detected at ${r.breach_detected_at ?? '-'}`);
  out.line(`suspicious events  ${r.suspicious_events}`);
  out.line(`secrets read       ${r.accessed_secrets} (by implicated actors)`);
  out.line(
    `affected tenants   ${r.affected_tenants.length} -> ${r.breach_scope} (widespread above ${r.widespread_threshold})`,
  );
  out.line(`scope              ${r.scope}`);
  out.line(
    r.window_secret_reads === 0
      ? 'secret reads       none: no secret was read in the window'
      : `secret reads       ${r.window_secret_reads} in the window (${r.secret_readers.actors} readers of ${r.secret_readers.tenants} tenants, not counting this token and assess.allow_actors)`,
  );
  out.line(`accessors HMAC'd   ${r.accessors_hmac}`);
  if (r.suspects.length) {
    out.line();
    out.table(
      r.suspects.map((s) => ({
        suspect: s.suspect,
        actors: s.matched_actors.length,
        events: s.matched_events,
        matched: s.matched_actors.join(',') || '-',
      })),
    );
  }
  out.line();
  out.table(
    r.rules.map((rule) => ({
      rule: rule.id,
      severity: rule.severity,
      events: rule.events,
      explanation: rule.explanation,
    })),
  );
  if (r.affected_tenants.length) {
    out.line();
    out.line(`affected tenants: ${r.affected_tenants.join(', ')}`);
  }
  if (r.at_risk_tenants.length || r.actors.some((a) => a.could_read !== null)) {
    out.line(
      `at risk (could read, no read on record): ${r.at_risk_tenants.length ? r.at_risk_tenants.join(', ') : 'none'}`,
    );
  }
  if (r.excluded_tenants_read.length)
    out.line(`excluded tenants also read (not counted): ${r.excluded_tenants_read.join(', ')}`);
  if (r.actors.length) {
    out.line();
    out.table(
      r.actors.map((a) => ({
        actor: a.display_name ?? a.actor,
        accessor: a.accessor,
        addresses: a.remote_addresses.join(','),
        reads: a.reads,
        denied: a.denied,
        tenants: a.tenants.length,
        could_read: a.could_read === null ? '-' : a.could_read.length,
        first_seen: a.first_seen,
        rules: a.rules.join(','),
        suspects: a.suspects.join(','),
      })),
    );
  }
  // Low findings (an application's stray failures) can be thousands a day; the table shows evidence.
  const evidence = r.suspicious.filter((s) => s.severity !== 'low');
  if (evidence.length) {
    out.line();
    const shown = evidence.slice(0, 20);
    out.table(
      shown.map((s) => ({
        time: s.time,
        rule: s.rule,
        severity: s.severity,
        path: s.path,
        who: s.display_name ?? s.remote_address,
        why: s.explanation,
      })),
    );
    if (r.suspicious_events > shown.length)
      out.line(
        `(${shown.length} of ${r.suspicious_events} suspicious events shown, low severity left out; --json lists up to --limit)`,
      );
  }
  for (const note of r.notes) out.line(`note: ${note}`);
  out.line();
  out.line('not in any audit log (absence proves nothing):');
  for (const item of r.not_audited) out.line(`  - ${item}`);
}
