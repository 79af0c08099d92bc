import { describe, expect, it } from 'vitest';
import type { IncidentStep } from '../store/repositories/incident.repository.js';
import { buildReport, renderHtml, renderMarkdown } from './report.js';

const step = (over: Partial<IncidentStep> & { step_id: string }): IncidentStep => ({
  incident_id: 'inc-1',
  position: 0,
  title: over.step_id,
  status: 'done',
  needs_approval: false,
  started_at: '2026-01-01T00:00:00.000Z',
  attempt_started_at: '2026-01-01T00:00:00.000Z',
  ended_at: '2026-01-01T00:00:10.000Z',
  measured_seconds: 10,
  target_seconds: 300,
  evidence: {},
  verify_evidence: null,
  outputs: null,
  error: null,
  attempts: 1,
  ...over,
});

const hostile = '<script>alert(1)</script> | ``` </pre><img src=x onerror=alert(2)>';

const reportIncident = {
  id: 'inc-1',
  type: 'breach',
  severity: 'critical',
  declared_by: '<b>mallory</b>',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:10:00.000Z',
  completed_at: '2026-01-01T00:10:00.000Z',
  state: 'completed' as const,
  options: {},
  owner: null,
};

const report = buildReport({
  incident: {
    id: 'inc-1',
    type: 'breach',
    severity: 'critical',
    declared_by: '<b>mallory</b>',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:10:00.000Z',
    completed_at: '2026-01-01T00:10:00.000Z',
    state: 'completed',
    options: {},
    owner: null,
  },
  steps: [
    step({
      step_id: 'assess',
      evidence: { note: hostile, tokens: 3 },
      outputs: { affected_tenants: ['acme', hostile] },
    }),
    step({
      step_id: 'rotate',
      position: 1,
      measured_seconds: 400,
      outputs: {
        summary: {
          run_id: 'r1',
          rotated: 5,
          failed: 1,
          pending: 0,
          failures: [{ tenant: 'acme', kind: 'smtp', phase: 'verify', reason: 'login refused' }],
        },
      },
      evidence: { actions: { secrets_rotated: 5 }, root_token: 'hvs.AAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    }),
    step({
      step_id: 'notify',
      position: 2,
      outputs: { sent: ['acme'], failed: [{ tenant: 'beta', reason: 'smtp 535' }] },
    }),
  ],
  events: [],
});

describe('incident report', () => {
  it('takes tenants, rotation and notifications from the assess, rotate and notify outputs', () => {
    expect(report.affected_tenants).toHaveLength(2);
    expect(report.rotation).toMatchObject({ run_id: 'r1', rotated: 5 });
    expect(report.notifications).toEqual({ sent: 1, failed: 1 });
    expect(report.rto_seconds).toBe(600);
    expect(report.actions).toEqual([
      { step: 'assess', action: 'tokens', count: 3 },
      { step: 'rotate', action: 'secrets_rotated', count: 5 },
    ]);
    expect(report.failures.map((f) => f.step)).toEqual(['rotate', 'notify']);
    expect(report.follow_ups.some((f) => f.includes('rotate took'))).toBe(true);
    expect(JSON.stringify(report)).not.toContain('hvs.AAAA');
  });

  it('says "no secret was read in the window" when the assessment found none, and the scope when it did', () => {
    const assessed = (outputs: Record<string, unknown>) =>
      buildReport({
        incident: { ...reportIncident, id: 'inc-2' },
        steps: [step({ step_id: 'assess', outputs })],
        events: [],
      });
    const none = assessed({ affected_tenants: [], scope: 'implicated', window_secret_reads: 0 });
    expect(none.no_secret_read).toBe(true);
    expect(renderMarkdown(none)).toContain('None: no secret was read in the window.');
    expect(renderHtml(none)).toContain('None: no secret was read in the window.');
    const some = assessed({ affected_tenants: ['acme'], scope: 'conservative', window_secret_reads: 4 });
    expect(some.no_secret_read).toBe(false);
    expect(renderMarkdown(some)).toContain('1 (scope conservative): acme');
    // A journal written before the field existed reads as before.
    expect(renderMarkdown(assessed({ affected_tenants: [] }))).toContain('None recorded.');
  });

  it('HTML escapes every value: no markup from evidence, tenants or names', () => {
    const html = renderHtml(report);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>mallory');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('Content-Security-Policy');
  });

  it('Markdown keeps table cells and code fences intact whatever the evidence holds', () => {
    const md = renderMarkdown(report);
    // Outside code fences (where a renderer shows text literally) no markup gets through.
    expect(md.replace(/(`{3,})json\n[\s\S]*?\n\1/g, '')).not.toContain('<script>');
    const timeline = md.split('## Timeline')[1]!.split('##')[0]!;
    // Every timeline row has the same number of unescaped pipes.
    const rows = timeline.split('\n').filter((l) => l.startsWith('|'));
    const cells = rows.map((r) => r.replace(/\\\|/g, '').split('|').length);
    expect(new Set(cells).size).toBe(1);
    // The evidence block's fence is longer than the backticks inside it.
    expect(md).toMatch(/````json\n/);
  });
});
