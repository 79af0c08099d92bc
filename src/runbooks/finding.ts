import { z } from 'zod';

/** `info` is a fact worth showing (snapshot age, lease count); anything above it is a problem. */
export const FINDING_SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type FindingSeverity = (typeof FINDING_SEVERITIES)[number];

export const FINDING_SEVERITY_RANK: Readonly<Record<FindingSeverity, number>> = {
  info: 0,
  low: 1,
  medium: 2,
  high: 3,
  critical: 4,
};

/**
 * One thing a diagnosis saw. `evidence` holds the observed facts (counts, addresses, ratios,
 * error texts) as data so scripts can read them; never a secret value.
 */
export const findingSchema = z.object({
  /** Stable id a script can match on: `node-sealed`, `no-leader`, `cert-expires-soon`. */
  id: z.string().min(1),
  severity: z.enum(FINDING_SEVERITIES),
  /** What is wrong, in one sentence an operator reads at 3 a.m. */
  symptom: z.string().min(1),
  evidence: z.record(z.string(), z.unknown()),
  /** The node (API address) the finding is about, when it is about one. */
  node: z.string().optional(),
  /** What to do next: the remediation step that fixes it, or the command to run. */
  suggested_step: z.string().min(1),
});
export type Finding = z.infer<typeof findingSchema>;

/** Healthy means nothing above `info` was found. */
export function isHealthy(findings: readonly Finding[]): boolean {
  return findings.every((f) => f.severity === 'info');
}

export function atOrAbove(findings: readonly Finding[], severity: FindingSeverity): Finding[] {
  return findings.filter((f) => FINDING_SEVERITY_RANK[f.severity] >= FINDING_SEVERITY_RANK[severity]);
}

/** Most severe first, then by id and node, so output is stable. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      FINDING_SEVERITY_RANK[b.severity] - FINDING_SEVERITY_RANK[a.severity] ||
      a.id.localeCompare(b.id) ||
      (a.node ?? '').localeCompare(b.node ?? ''),
  );
}
