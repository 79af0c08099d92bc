import type {
  Incident,
  IncidentEvent,
  IncidentState,
  IncidentStep,
  StepStatus,
} from '../store/repositories/incident.repository.js';
import { displayText } from '../util/text.js';
import { redactor } from '../logging/redactor.js';

/**
 * The incident report, built from the journal alone (so a resumed or finished incident reports the
 * same way). The JSON shape is the interface contract of `respond breach --json` and
 * `incident report --format json`:
 *
 *   incident_id, state, rto_seconds, steps[{id, title, status, target_seconds, measured_seconds,
 *   evidence}], affected_tenants, at_risk_tenants, affected_scope, no_secret_read, could_not_assess, rotation,
 *   notifications{sent, failed}
 *
 * plus type, severity, declared_by, created_at, completed_at, target_seconds, steps_seconds,
 * actions, failures, follow_ups and the timeline.
 *
 * - `rto_seconds` is wall clock from declaration to completion (to the last journal entry while
 *   unfinished): approvals, key holders and crashes count, as they do in a real recovery.
 * - `affected_tenants`, `rotation`, `notifications` come from the outputs of the steps `assess`
 *   (`affected_tenants`), `rotate` (`summary`) and `notify` (`sent`, `failed`: counts or lists);
 *   `[]`, `null`, `null` when those steps did not run.
 * - `actions` are counts from evidence: a step's `evidence.actions` object when it has one, else
 *   its integer evidence fields.
 * Everything passes the scrubber again: no secret-looking key or token-shaped string gets out.
 */

export interface ReportStep {
  id: string;
  title: string;
  status: StepStatus;
  target_seconds: number;
  measured_seconds: number | null;
  evidence: Record<string, unknown>;
  verification: Record<string, unknown> | null;
  started_at: string | null;
  ended_at: string | null;
  attempts: number;
  needs_approval: boolean;
  error: string | null;
}

export interface IncidentReport {
  incident_id: string;
  state: IncidentState;
  rto_seconds: number;
  steps: ReportStep[];
  affected_tenants: string[];
  /**
   * Tenants whose secrets an implicated actor's policies let it read but no read of which is on
   * record (the assess step's `at_risk_tenants`); `[]` when the assess step did not run.
   */
  at_risk_tenants: string[];
  /** How the assessment decided `affected_tenants` (implicated, conservative, all), or null when it did not run. */
  affected_scope: string | null;
  /** True when the assessment found that no secret was read in its window: an empty list then means exactly that. */
  no_secret_read: boolean;
  /** Why the assessment saw nothing (no audit event in its window), or null: then `affected_tenants` is unknown, not empty. */
  could_not_assess: string | null;
  rotation: Record<string, unknown> | null;
  notifications: { sent: number; failed: number } | null;
  type: string;
  severity: string;
  declared_by: string;
  created_at: string;
  completed_at: string | null;
  /** Sum of the steps' targets: the procedure's recovery target. */
  target_seconds: number;
  /** Sum of the steps' measured times. */
  steps_seconds: number;
  actions: { step: string; action: string; count: number }[];
  failures: { step: string; what: string; reason: string }[];
  follow_ups: string[];
  timeline: { at: string; step: string | null; event: string; details: Record<string, unknown> }[];
}

const round = (n: number) => Math.round(n * 100) / 100;
const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const countOf = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : Array.isArray(v) ? v.length : undefined;

export function buildReport(input: {
  incident: Incident;
  steps: readonly IncidentStep[];
  events: readonly IncidentEvent[];
}): IncidentReport {
  const scrub = redactor;
  const { incident } = input;
  const steps = input.steps.map((s) => scrub.value(s));
  const outputsOf = (id: string) =>
    steps.find((s) => s.step_id === id && s.status === 'done')?.outputs ?? null;

  const end = incident.completed_at ?? latest(incident.updated_at, input.events.at(-1)?.at);
  const rto = Math.max(0, (Date.parse(end) - Date.parse(incident.created_at)) / 1000);

  const assess = outputsOf('assess');
  const affected = Array.isArray(assess?.['affected_tenants'])
    ? (assess['affected_tenants'] as unknown[]).map(String)
    : [];
  const atRisk = Array.isArray(assess?.['at_risk_tenants'])
    ? (assess['at_risk_tenants'] as unknown[]).map(String)
    : [];
  const couldNotAssess = typeof assess?.['could_not_assess'] === 'string' ? assess['could_not_assess'] : null;
  const affectedScope = typeof assess?.['scope'] === 'string' ? assess['scope'] : null;
  const noSecretRead = assess?.['window_secret_reads'] === 0;
  const rotateOut = outputsOf('rotate');
  const rotation = isRecord(rotateOut?.['summary']) ? rotateOut['summary'] : null;
  const notify = outputsOf('notify');
  const sent = countOf(notify?.['sent']);
  const failedNotices = countOf(notify?.['failed']);
  const notifications =
    notify && (sent !== undefined || failedNotices !== undefined)
      ? { sent: sent ?? 0, failed: failedNotices ?? 0 }
      : null;

  const actions: IncidentReport['actions'] = [];
  for (const step of steps) {
    if (step.status !== 'done' || !step.evidence) continue;
    const explicit = step.evidence['actions'];
    const source = isRecord(explicit) ? explicit : step.evidence;
    for (const [action, value] of Object.entries(source))
      if (typeof value === 'number' && Number.isInteger(value) && !/_(seconds|ms|bytes)$/.test(action))
        actions.push({ step: step.step_id, action, count: value });
  }

  const failures: IncidentReport['failures'] = [];
  for (const step of steps)
    if (step.status === 'failed')
      failures.push({ step: step.step_id, what: step.title, reason: step.error ?? 'failed' });
  if (rotation && Array.isArray(rotation['failures']))
    for (const f of rotation['failures']) {
      if (!isRecord(f)) continue;
      failures.push({
        step: 'rotate',
        what: [f['tenant'], f['kind'], f['phase']]
          .filter((x) => x !== undefined)
          .map((x) => displayText(x))
          .join(' '),
        reason: displayText(f['reason'], 'failed'),
      });
    }
  if (notify && Array.isArray(notify['failed']))
    for (const f of notify['failed'])
      failures.push({
        step: 'notify',
        what: isRecord(f) ? displayText(f['tenant'] ?? f['channel'], 'notice') : displayText(f),
        reason: isRecord(f) ? displayText(f['reason'], 'not delivered') : 'not delivered',
      });

  const followUps: string[] = [];
  if (incident.state !== 'completed')
    followUps.push(
      `The incident is ${incident.state}: finish it with sealwatch incident resume ${incident.id}.`,
    );
  for (const step of steps) {
    for (const evidence of [step.evidence, step.verify_evidence])
      if (evidence && Array.isArray(evidence['follow_ups']))
        for (const f of evidence['follow_ups']) followUps.push(String(f));
    if (
      step.measured_seconds !== null &&
      step.status === 'done' &&
      step.measured_seconds > step.target_seconds
    )
      followUps.push(
        `Step ${step.step_id} took ${formatSeconds(step.measured_seconds)}, over its target of ${formatSeconds(step.target_seconds)}: review what slowed it.`,
      );
  }
  if (rotation && typeof rotation['pending'] === 'number' && rotation['pending'] > 0)
    followUps.push(
      `${rotation['pending']} secrets are not rotated yet: sealwatch rotate resume ${displayText(rotation['run_id'])}`.trim(),
    );
  if (rotation && typeof rotation['retire_pending'] === 'number' && rotation['retire_pending'] > 0)
    followUps.push(
      `${rotation['retire_pending']} old secret versions are kept until their grace period ends; they are retired by the next rotate resume.`,
    );
  if (notifications && notifications.failed > 0)
    followUps.push(
      `${notifications.failed} tenant notices were not delivered: check the channel and resume the incident to retry.`,
    );

  return {
    incident_id: incident.id,
    state: incident.state,
    rto_seconds: round(rto),
    steps: steps.map((s) => ({
      id: s.step_id,
      title: s.title,
      status: s.status,
      target_seconds: s.target_seconds,
      measured_seconds: s.measured_seconds,
      evidence: s.evidence ?? {},
      verification: s.verify_evidence,
      started_at: s.started_at,
      ended_at: s.ended_at,
      attempts: s.attempts,
      needs_approval: s.needs_approval,
      error: s.error,
    })),
    affected_tenants: affected,
    at_risk_tenants: atRisk,
    affected_scope: affectedScope,
    no_secret_read: noSecretRead,
    could_not_assess: couldNotAssess,
    rotation,
    notifications,
    type: incident.type,
    severity: incident.severity,
    declared_by: incident.declared_by,
    created_at: incident.created_at,
    completed_at: incident.completed_at,
    target_seconds: steps.reduce((sum, s) => sum + s.target_seconds, 0),
    steps_seconds: round(steps.reduce((sum, s) => sum + (s.measured_seconds ?? 0), 0)),
    actions,
    failures,
    follow_ups: followUps,
    timeline: input.events.map((e) => ({
      at: e.at,
      step: e.step_id,
      event: e.event,
      details: scrub.value(e.details),
    })),
  };
}

function latest(a: string, b: string | undefined): string {
  return b !== undefined && b > a ? b : a;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function versusTarget(step: ReportStep): string {
  if (step.measured_seconds === null) return '—';
  const over = step.measured_seconds - step.target_seconds;
  return over > 0 ? `over by ${formatSeconds(over)}` : 'within';
}

// ---------------------------------------------------------------- Markdown

/** Text in a Markdown table cell or paragraph: no pipe, newline or HTML gets through as markup. */
function mdText(value: unknown): string {
  return displayText(value)
    .replace(/\\/g, '\\\\')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/([`*_[\]])/g, '\\$1')
    .replace(/\r?\n/g, ' ');
}

/** A fenced block whose fence is longer than any backtick run inside, so content cannot close it. */
function mdFence(content: string, lang = ''): string {
  const longest = Math.max(2, ...[...content.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${lang}\n${content}\n${fence}`;
}

export function renderMarkdown(report: IncidentReport): string {
  const lines: string[] = [];
  lines.push(`# Incident ${mdText(report.incident_id)}: ${mdText(report.type)}`, '');
  lines.push(
    `- **State:** ${mdText(report.state)}`,
    `- **Severity:** ${mdText(report.severity)}`,
    `- **Declared by:** ${mdText(report.declared_by)} at ${mdText(report.created_at)}`,
    `- **Completed:** ${mdText(report.completed_at ?? 'not yet')}`,
    `- **RTO:** ${formatSeconds(report.rto_seconds)} wall clock (declared → ${report.completed_at ? 'completed' : 'last journal entry'}); steps ${formatSeconds(report.steps_seconds)}; procedure target ${formatSeconds(report.target_seconds)} (${report.rto_seconds <= report.target_seconds ? 'within' : 'over'})`,
    '',
  );
  lines.push('## Timeline', '');
  lines.push('| # | Step | Status | Started (UTC) | Measured | Target | vs target | Attempts |');
  lines.push('|---|------|--------|---------------|----------|--------|-----------|----------|');
  report.steps.forEach((s, i) =>
    lines.push(
      `| ${i + 1} | ${mdText(s.title)} (\`${mdText(s.id).replace(/`/g, '')}\`) | ${mdText(s.status)} | ${mdText(s.started_at ?? '—')} | ${s.measured_seconds === null ? '—' : formatSeconds(s.measured_seconds)} | ${formatSeconds(s.target_seconds)} | ${versusTarget(s)} | ${s.attempts} |`,
    ),
  );
  lines.push(
    `| | **Total** | | | **${formatSeconds(report.steps_seconds)}** | **${formatSeconds(report.target_seconds)}** | RTO ${formatSeconds(report.rto_seconds)} | |`,
    '',
  );
  lines.push('## Actions taken', '');
  if (report.actions.length === 0) lines.push('None recorded.', '');
  else {
    lines.push('| Step | Action | Count |', '|------|--------|-------|');
    for (const a of report.actions) lines.push(`| ${mdText(a.step)} | ${mdText(a.action)} | ${a.count} |`);
    lines.push('');
  }
  lines.push('## Affected tenants', '');
  lines.push(
    report.could_not_assess !== null
      ? `Not assessed: ${mdText(report.could_not_assess)}`
      : report.affected_tenants.length === 0
        ? report.no_secret_read
          ? 'None: no secret was read in the window.'
          : 'None recorded.'
        : `${report.affected_tenants.length}${report.affected_scope ? ` (scope ${mdText(report.affected_scope)})` : ''}: ${report.affected_tenants.map(mdText).join(', ')}`,
    '',
  );
  if (report.at_risk_tenants.length)
    lines.push(
      `At risk (could read, no read on record): ${report.at_risk_tenants.length}: ${report.at_risk_tenants.map(mdText).join(', ')}`,
      '',
    );
  if (report.rotation) {
    lines.push('## Rotation', '');
    const r = report.rotation;
    lines.push(
      ['run_id', 'state', 'total', 'rotated', 'failed', 'rolled_back', 'skipped', 'pending']
        .filter((k) => r[k] !== undefined)
        .map((k) => `- ${k}: ${mdText(r[k])}`)
        .join('\n'),
      '',
    );
  }
  if (report.notifications)
    lines.push(
      '## Notifications',
      '',
      `Sent ${report.notifications.sent}, failed ${report.notifications.failed}.`,
      '',
    );
  lines.push('## Failures', '');
  if (report.failures.length === 0) lines.push('None.', '');
  else
    for (const f of report.failures)
      lines.push(`- ${mdText(f.step)}: ${mdText(f.what)} — ${mdText(f.reason)}`);
  if (report.failures.length) lines.push('');
  lines.push('## Follow-ups', '');
  if (report.follow_ups.length === 0) lines.push('None.', '');
  else {
    for (const f of report.follow_ups) lines.push(`- ${mdText(f)}`);
    lines.push('');
  }
  lines.push('## Evidence', '');
  for (const s of report.steps) {
    lines.push(`### ${mdText(s.title)}`, '');
    if (s.error) lines.push(`Error: ${mdText(s.error)}`, '');
    lines.push(
      mdFence(JSON.stringify({ evidence: s.evidence, verification: s.verification }, null, 2), 'json'),
      '',
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- HTML

export function escapeHtml(value: unknown): string {
  return displayText(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1f24;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.done{color:#1a7f37}.failed{color:#cf222e}.over{color:#bc4c00}pre{background:#f6f8fa;padding:.6rem;overflow:auto;white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}`;

/** One self-contained page: inline style, no script, no external resource; every value escaped. */
export function renderHtml(report: IncidentReport): string {
  const e = escapeHtml;
  const rows = report.steps
    .map(
      (s, i) =>
        `<tr><td>${i + 1}</td><td>${e(s.title)} <code>${e(s.id)}</code></td><td class="${e(s.status)}">${e(s.status)}</td><td>${e(s.started_at ?? '—')}</td><td>${s.measured_seconds === null ? '—' : e(formatSeconds(s.measured_seconds))}</td><td>${e(formatSeconds(s.target_seconds))}</td><td${versusTarget(s).startsWith('over') ? ' class="over"' : ''}>${e(versusTarget(s))}</td><td>${s.attempts}</td></tr>`,
    )
    .join('\n');
  const list = (items: string[]) =>
    items.length ? `<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>` : '<p>None.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Incident ${e(report.incident_id)}</title><style>${STYLE}</style></head>
<body>
<h1>Incident ${e(report.incident_id)}: ${e(report.type)}</h1>
<dl>
<dt>State</dt><dd>${e(report.state)}</dd>
<dt>Severity</dt><dd>${e(report.severity)}</dd>
<dt>Declared by</dt><dd>${e(report.declared_by)} at ${e(report.created_at)}</dd>
<dt>Completed</dt><dd>${e(report.completed_at ?? 'not yet')}</dd>
<dt>RTO</dt><dd>${e(formatSeconds(report.rto_seconds))} wall clock; steps ${e(formatSeconds(report.steps_seconds))}; procedure target ${e(formatSeconds(report.target_seconds))}</dd>
</dl>
<h2>Timeline</h2>
<table><thead><tr><th>#</th><th>Step</th><th>Status</th><th>Started (UTC)</th><th>Measured</th><th>Target</th><th>vs target</th><th>Attempts</th></tr></thead>
<tbody>
${rows}
<tr><th></th><th>Total</th><th></th><th></th><th>${e(formatSeconds(report.steps_seconds))}</th><th>${e(formatSeconds(report.target_seconds))}</th><th>RTO ${e(formatSeconds(report.rto_seconds))}</th><th></th></tr>
</tbody></table>
<h2>Actions taken</h2>
${report.actions.length ? `<table><thead><tr><th>Step</th><th>Action</th><th>Count</th></tr></thead><tbody>${report.actions.map((a) => `<tr><td>${e(a.step)}</td><td>${e(a.action)}</td><td>${a.count}</td></tr>`).join('')}</tbody></table>` : '<p>None recorded.</p>'}
<h2>Affected tenants</h2>
<p>${report.could_not_assess !== null ? `Not assessed: ${e(report.could_not_assess)}` : report.affected_tenants.length ? `${report.affected_tenants.length}${report.affected_scope ? ` (scope ${e(report.affected_scope)})` : ''}: ${report.affected_tenants.map(e).join(', ')}` : report.no_secret_read ? 'None: no secret was read in the window.' : 'None recorded.'}</p>
${report.at_risk_tenants.length ? `<p>At risk (could read, no read on record): ${report.at_risk_tenants.length}: ${report.at_risk_tenants.map(e).join(', ')}</p>` : ''}
${report.rotation ? `<h2>Rotation</h2><pre>${e(JSON.stringify(report.rotation, null, 2))}</pre>` : ''}
${report.notifications ? `<h2>Notifications</h2><p>Sent ${report.notifications.sent}, failed ${report.notifications.failed}.</p>` : ''}
<h2>Failures</h2>
${list(report.failures.map((f) => `${e(f.step)}: ${e(f.what)} — ${e(f.reason)}`))}
<h2>Follow-ups</h2>
${list(report.follow_ups.map(e))}
<h2>Evidence</h2>
${report.steps.map((s) => `<h3>${e(s.title)}</h3>${s.error ? `<p class="failed">Error: ${e(s.error)}</p>` : ''}<pre>${e(JSON.stringify({ evidence: s.evidence, verification: s.verification }, null, 2))}</pre>`).join('\n')}
</body></html>
`;
}

export type ReportFormat = 'md' | 'html' | 'json';

/** Every format is redacted twice: the values before rendering (HTML escaping would hide a secret from a text scan), the text after. */
export function renderReport(report: IncidentReport, format: ReportFormat): string {
  const safe = redactor.value(report);
  if (format === 'json') return redactor.text(JSON.stringify(safe, null, 2)) + '\n';
  return redactor.text(format === 'html' ? renderHtml(safe) : renderMarkdown(safe));
}
