import { describe, expect, it } from 'vitest';
import type { PostureFinding } from './check.js';
import { diffFindings, type PostureReport } from './posture.service.js';
import { renderHtml } from './report/html.js';
import { renderMarkdown } from './report/markdown.js';
import { scorePosture } from './score.js';
import { isLoopback } from './checks/tls.check.js';

const finding = (over: Partial<PostureFinding> = {}): PostureFinding => ({
  id: 'seal:single-share',
  check: 'seal',
  area: 'seal',
  severity: 'high',
  title: 'one unseal key unseals the server (1 of 1)',
  evidence: { shares: 1 },
  why: 'why',
  fix: 'bao operator rekey -init',
  ...over,
});

const report = (findings: PostureFinding[]): PostureReport => ({
  generated_at: '2026-12-06T00:00:00.000Z',
  server: { addr: 'http://127.0.0.1:8200', version: '2.7.2', cluster_id: 'c1' },
  since: '2026-11-06T00:00:00.000Z',
  score: scorePosture(findings, new Set(['seal', 'tokens'])),
  findings,
  checks: [{ id: 'seal', area: 'seal', title: 'seal', status: findings.length ? 'findings' : 'ok' }],
});

describe('scorePosture', () => {
  it('multiplies what each finding leaves of its area, and the areas into the overall score', () => {
    const score = scorePosture(
      [
        finding(),
        finding({ id: 'seal:x', severity: 'medium' }),
        finding({ area: 'tokens', severity: 'info' }),
      ],
      new Set(['seal', 'tokens']),
    );
    // seal: 0.7 × 0.85 = 0.595; tokens: info costs nothing.
    expect(score).toEqual({ overall: 60, by_area: { seal: 60, tokens: 100 } });
  });

  it('leaves out areas no check looked at, and never goes below 0', () => {
    const many = Array.from({ length: 40 }, (_, i) => finding({ id: `x${i}`, severity: 'critical' }));
    const score = scorePosture(many, new Set(['seal']));
    expect(score.by_area).toEqual({ seal: 0 });
    expect(score.overall).toBe(0);
    expect(scorePosture([], new Set(['tls']))).toEqual({ overall: 100, by_area: { tls: 100 } });
  });
});

describe('diffFindings', () => {
  it('sorts findings into new, fixed, changed and unchanged by id', () => {
    const before = [
      finding(),
      finding({ id: 'tls:disabled:0.0.0.0:8200', area: 'tls', check: 'tls' }),
      finding({ id: 'audit-devices:single', severity: 'medium' }),
    ];
    const now = report([
      finding(),
      finding({ id: 'audit-devices:single', severity: 'high' }),
      finding({ id: 'root-tokens:accessor:abc', area: 'tokens', check: 'root-tokens' }),
    ]);
    const diff = diffFindings(before, now, { id: 1, taken_at: 't' });
    expect(diff.new.map((f) => f.id)).toEqual(['root-tokens:accessor:abc']);
    expect(diff.fixed.map((f) => f.id)).toEqual(['tls:disabled:0.0.0.0:8200']);
    expect(diff.changed).toEqual([
      expect.objectContaining({ id: 'audit-devices:single', fields: ['severity'] }),
    ]);
    expect(diff.unchanged).toBe(1);
  });
});

describe('reports', () => {
  const hostile = finding({
    title: 'auth method <img src=x onerror=alert(1)> | pwned',
    evidence: { mount: '</pre><script>alert(1)</script>' },
  });

  it('HTML escapes every server-provided value and fetches nothing', () => {
    const html = renderHtml(report([hostile]));
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
  });

  it('Markdown escapes table pipes', () => {
    const md = renderMarkdown(report([hostile]));
    expect(md).toContain('\\| pwned');
    expect(md).toContain('## seal');
  });
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1:8200', true],
    ['127.1.2.3:8200', true],
    ['localhost:8200', true],
    ['[::1]:8200', true],
    ['0.0.0.0:8200', false],
    ['[::]:8200', false],
    ['10.0.0.5:8200', false],
    ['vault.internal:8200', false],
  ])('%s → %s', (address, expected) => expect(isLoopback(address)).toBe(expected));
});
