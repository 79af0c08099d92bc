import { POSTURE_AREAS } from '../check.js';
import type { PostureReport } from '../posture.service.js';

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text made safe for HTML element content and quoted attributes. */
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;width:100%}th,td{border:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.critical,.high{color:#a40000;font-weight:bold}.medium{color:#a05a00}.low,.info{color:#555}
pre{white-space:pre-wrap;margin:0;font-size:12px}.score{font-size:2em}`;

/**
 * The report as one self-contained HTML page: inline style, no script, no external fetch, every
 * value from the server escaped (a policy or mount name is attacker-controlled text).
 */
export function renderHtml(report: PostureReport): string {
  const e = escapeHtml;
  const sections = POSTURE_AREAS.flatMap((area) => {
    const findings = report.findings.filter((f) => f.area === area);
    if (!findings.length) return [];
    return [
      `<h2>${area} <small>(score ${report.score.by_area[area] ?? '-'})</small></h2>`,
      '<table><tr><th>severity</th><th>finding</th><th>why</th><th>fix</th><th>evidence</th></tr>',
      ...findings.map(
        (f) =>
          `<tr><td class="${f.severity}">${f.severity}</td><td>${e(f.title)}<br><small>${e(f.id)}</small></td><td>${e(f.why)}</td><td><pre>${e(f.fix)}</pre></td><td><pre>${e(JSON.stringify(f.evidence, null, 1))}</pre></td></tr>`,
      ),
      '</table>',
    ];
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>sealwatch posture ${e(report.server.addr)}</title><style>${STYLE}</style></head>
<body>
<h1>sealwatch posture</h1>
<p class="score">${report.score.overall}/100</p>
<p>Server ${e(report.server.addr)}, version ${e(report.server.version)}; generated ${e(report.generated_at)}; audit window since ${e(report.since)}.</p>
<table><tr><th>area</th><th>score</th></tr>${Object.entries(report.score.by_area)
    .map(([area, score]) => `<tr><td>${area}</td><td>${score}</td></tr>`)
    .join('')}</table>
<table><tr><th>check</th><th>area</th><th>status</th></tr>${report.checks
    .map(
      (c) =>
        `<tr><td>${e(c.id)}</td><td>${c.area}</td><td>${c.status}${c.error ? `: ${e(c.error)}` : ''}</td></tr>`,
    )
    .join('')}</table>
${sections.join('\n')}
${report.findings.length ? '' : '<p>No findings.</p>'}
</body></html>
`;
}
