import type { PostureFinding } from '../check.js';

/**
 * What a finding is about, as a server path or object name: the evidence's path, mount, device,
 * role or address when it names one, else the subject part of the finding id.
 */
export function findingSubject(finding: PostureFinding): string {
  for (const key of ['accessor', 'role', 'path', 'mount', 'device', 'address'] as const) {
    const value = finding.evidence[key];
    if (typeof value === 'string' && value) return key === 'accessor' ? `accessor:${value}` : value;
  }
  const subject = finding.id.slice(finding.check.length + 1);
  return subject || finding.check;
}
