import type { FindingSeverity } from '../../runbooks/finding.js';
import type { PostureReport } from '../posture.service.js';
import { findingSubject } from './subject.js';

const LEVEL: Readonly<Record<FindingSeverity, SarifLevel>> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'note',
  info: 'note',
};

/** GitHub code scanning's `security-severity` (CVSS-like 0-10) for each severity. */
const SECURITY_SEVERITY: Readonly<Record<FindingSeverity, string>> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '3.0',
  info: '0.0',
};

type SarifLevel = 'error' | 'warning' | 'note';

/** The parts of SARIF 2.1.0 sealwatch writes. */
export interface SarifLog {
  $schema: string;
  version: '2.1.0';
  runs: {
    tool: {
      driver: {
        name: string;
        version: string;
        rules: {
          id: string;
          name: string;
          shortDescription: { text: string };
          properties: { tags: string[] };
        }[];
      };
    };
    invocations: {
      executionSuccessful: boolean;
      endTimeUtc: string;
      toolExecutionNotifications: {
        level: SarifLevel;
        message: { text: string };
        descriptor: { id: string };
      }[];
    }[];
    results: {
      ruleId: string;
      ruleIndex?: number;
      level: SarifLevel;
      message: { text: string };
      locations: { logicalLocations: { name: string; fullyQualifiedName: string; kind: string }[] }[];
      partialFingerprints: Record<string, string>;
      properties: Record<string, unknown>;
    }[];
  }[];
}

/**
 * The report as a SARIF 2.1.0 log: one rule per check, one result per finding with its level
 * from the severity and a logical location naming the server and the path or object it is about.
 * The finding id is the result's fingerprint, so a code-scanning service tracks it across runs.
 */
export function renderSarif(report: PostureReport, tool: { version: string }): SarifLog {
  const ruleIndex = new Map(report.checks.map((c, i) => [c.id, i]));
  return {
    $schema: 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'sealwatch',
            version: tool.version,
            rules: report.checks.map((c) => ({
              id: c.id,
              name: c.id.replace(/(^|-)([a-z])/g, (_, __: string, ch: string) => ch.toUpperCase()),
              shortDescription: { text: c.title },
              properties: { tags: ['security', 'posture', c.area] },
            })),
          },
        },
        invocations: [
          {
            executionSuccessful: report.checks.every((c) => c.status !== 'could-not-check'),
            endTimeUtc: report.generated_at,
            toolExecutionNotifications: report.checks
              .filter((c) => c.status === 'could-not-check')
              .map((c) => ({
                level: 'error' as const,
                message: { text: `check ${c.id} could not run: ${c.error ?? 'unknown error'}` },
                descriptor: { id: c.id },
              })),
          },
        ],
        results: report.findings.map((f) => ({
          ruleId: f.check,
          ...(ruleIndex.has(f.check) && { ruleIndex: ruleIndex.get(f.check) }),
          level: LEVEL[f.severity],
          message: { text: `${f.title}. Why: ${f.why}. Fix: ${f.fix}` },
          locations: [
            {
              logicalLocations: [
                {
                  name: findingSubject(f),
                  fullyQualifiedName: `${report.server.addr}/${findingSubject(f)}`,
                  kind: 'resource',
                },
              ],
            },
          ],
          partialFingerprints: { 'sealwatchFindingId/v1': f.id },
          properties: {
            severity: f.severity,
            'security-severity': SECURITY_SEVERITY[f.severity],
            area: f.area,
            evidence: f.evidence,
            fix: f.fix,
          },
        })),
      },
    ],
  };
}
