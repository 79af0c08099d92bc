import { POSTURE_AREAS } from '../check.js';
import type { PostureReport } from '../posture.service.js';

/** A Markdown table cell: pipes escaped, line breaks kept as <br>. */
const cell = (text: string) => text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');

/** The report as Markdown (a CI job summary, a ticket): score, checks, findings by area, worst first. */
export function renderMarkdown(report: PostureReport): string {
  const lines = [
    `# sealwatch posture: ${report.score.overall}/100`,
    '',
    `Server ${cell(report.server.addr)} (OpenBao/Vault ${cell(report.server.version)}), ${report.generated_at}; audit window since ${report.since}.`,
    '',
    '| area | score |',
    '| --- | --- |',
    ...Object.entries(report.score.by_area).map(([area, score]) => `| ${area} | ${score} |`),
    '',
    '| check | area | status |',
    '| --- | --- | --- |',
    ...report.checks.map(
      (c) => `| ${c.id} | ${c.area} | ${c.status}${c.error ? `: ${cell(c.error)}` : ''} |`,
    ),
  ];
  for (const area of POSTURE_AREAS) {
    const findings = report.findings.filter((f) => f.area === area);
    if (!findings.length) continue;
    lines.push('', `## ${area}`, '', '| severity | finding | fix |', '| --- | --- | --- |');
    for (const f of findings)
      lines.push(
        `| ${f.severity} | ${cell(f.title)}<br>_${cell(f.why)}_ | \`${cell(f.fix).replace(/`/g, "'")}\` |`,
      );
  }
  if (!report.findings.length) lines.push('', 'No findings.');
  return lines.join('\n') + '\n';
}
