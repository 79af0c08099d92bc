import { FINDING_SEVERITIES, type FindingSeverity } from '../runbooks/finding.js';
import { POSTURE_AREAS, type PostureArea, type PostureFinding } from './check.js';

/**
 * How much of an area's score one finding takes away, as a fraction of what is left: a critical
 * halves it, five mediums leave 44. Multiplying instead of subtracting keeps a score above 0 however
 * many findings there are, and lets each further finding still lower it.
 */
export const SEVERITY_WEIGHT: Readonly<Record<FindingSeverity, number>> = {
  info: 0,
  low: 0.05,
  medium: 0.15,
  high: 0.3,
  critical: 0.5,
};

export interface PostureScore {
  /** 0-100: the product of the area scores (as fractions), so one bad area pulls it down. */
  overall: number;
  /** 0-100 per area that at least one check of this run looked at. */
  by_area: Partial<Record<PostureArea, number>>;
}

/**
 * area = 100 × Π (1 − weight(severity)) over the area's findings; overall = 100 × Π (area / 100).
 * Areas no check of the run covers are left out (not reported as a perfect 100).
 */
export function scorePosture(
  findings: readonly PostureFinding[],
  areas: ReadonlySet<PostureArea>,
): PostureScore {
  const fraction = new Map<PostureArea, number>([...areas].map((a) => [a, 1]));
  for (const f of findings)
    if (fraction.has(f.area)) fraction.set(f.area, fraction.get(f.area)! * (1 - SEVERITY_WEIGHT[f.severity]));
  const by_area: Partial<Record<PostureArea, number>> = {};
  let overall = 1;
  for (const area of POSTURE_AREAS) {
    const value = fraction.get(area);
    if (value === undefined) continue;
    by_area[area] = Math.round(value * 100);
    overall *= value;
  }
  return { overall: Math.round(overall * 100), by_area };
}

export const SEVERITY_ORDER: readonly FindingSeverity[] = [...FINDING_SEVERITIES].reverse();
