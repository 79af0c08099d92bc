import { describe, expect, it } from 'vitest';
import { FINDING_SEVERITIES } from '../../runbooks/finding.js';
import type { PostureFinding } from '../check.js';
import type { PostureReport } from '../posture.service.js';
import { scorePosture } from '../score.js';
import { sarifValidator } from '../../../test/harness/sarif-schema.js';
import { renderSarif } from './sarif.js';

const findings: PostureFinding[] = FINDING_SEVERITIES.map((severity, i) => ({
  id: `seal:${severity}`,
  check: i % 2 ? 'seal' : 'root-tokens',
  area: i % 2 ? 'seal' : 'tokens',
  severity,
  title: `a ${severity} finding with "quotes" and <angle brackets>`,
  evidence: { accessor: `acc-${i}`, policies: ['root'], ttl: 0, nested: { path: 'auth/approle/role/x' } },
  why: 'because',
  fix: 'bao token revoke -accessor X\nsecond line',
}));

const report: PostureReport = {
  generated_at: '2026-12-06T03:00:00.000Z',
  server: { addr: 'http://127.0.0.1:8200', version: '2.7.2', cluster_id: null },
  since: '2026-11-06T03:00:00.000Z',
  score: scorePosture(findings, new Set(['tokens', 'seal'])),
  findings,
  checks: [
    { id: 'root-tokens', area: 'tokens', title: 'live root tokens', status: 'findings' },
    { id: 'seal', area: 'seal', title: 'seal', status: 'findings' },
    { id: 'tls', area: 'tls', title: 'tls', status: 'could-not-check', error: 'boom' },
  ],
};

describe('renderSarif', () => {
  const validate = sarifValidator();

  it('validates against the SARIF 2.1.0 schema', () => {
    const log = renderSarif(report, { version: '0.1.0' });
    const valid = validate(log);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('is checked by a schema that refuses a broken log (the test can fail)', () => {
    const log = renderSarif(report, { version: '0.1.0' });
    expect(validate({ ...log, version: '2.0.0' })).toBe(false);
    expect(validate({ ...log, runs: [{ results: [] }] })).toBe(false);
  });

  it('has one rule per check, levels from severities, and the finding id as fingerprint', () => {
    const log = renderSarif(report, { version: '0.1.0' });
    const run = log.runs[0]!;
    expect(run.tool.driver.rules.map((r) => r.id)).toEqual(['root-tokens', 'seal', 'tls']);
    expect(run.results.map((r) => r.level)).toEqual(['note', 'note', 'warning', 'error', 'error']);
    expect(run.results[1]).toMatchObject({ ruleId: 'seal', ruleIndex: 1 });
    expect(run.results[4]!.partialFingerprints).toEqual({ 'sealwatchFindingId/v1': 'seal:critical' });
    expect(run.invocations[0]!.executionSuccessful).toBe(false);
  });
});
