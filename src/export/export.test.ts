import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { RUNBOOK_NAMES } from '../runbooks/registry.js';
import { grafanaDashboard } from './grafana-dashboard.js';
import { knownMetricNames } from './metric-names.js';
import {
  promDuration,
  prometheusRules,
  renderPrometheusRules,
  ruleOptions,
  type AlertingRule,
} from './prometheus-rules.js';

const KEYWORDS = new Set([
  'by',
  'on',
  'without',
  'ignoring',
  'group_left',
  'group_right',
  'unless',
  'or',
  'and',
  'bool',
  'offset',
]);

/**
 * The metric names a PromQL expression selects: identifiers left once label matchers, strings,
 * ranges and grouping clauses are removed, that are neither a function nor a keyword.
 */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)]
    .filter(([, name, call]) => call === undefined && !KEYWORDS.has(name!))
    .map(([, name]) => name!);
}

const allRules = (prefix = 'vault'): AlertingRule[] =>
  prometheusRules(ruleOptions({ metricsPrefix: prefix })).groups.flatMap((g) => g.rules);

describe('metricsIn', () => {
  it('finds the selected metrics, not functions, labels or clauses', () => {
    expect(
      metricsIn(
        'sum by (job) (rate(vault_core_x{job="a",type="5xx"}[5m])) / max by (instance) (up{job="b"}) unless on (job) sealwatch_y',
      ),
    ).toEqual(['vault_core_x', 'up', 'sealwatch_y']);
  });
});

describe('prometheus rules', () => {
  it('covers what the reference Vault mixin alerts on, plus sealwatch’s own faults', () => {
    expect(allRules().map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'OpenBaoSealed',
        'OpenBaoNodeDown',
        'OpenBaoNoActiveNode',
        'OpenBaoAutopilotUnhealthy',
        'OpenBaoRaftFsmPending',
        'OpenBaoAuditLogRequestFailures',
        'OpenBaoAuditLogResponseFailures',
        'OpenBaoLowResponseSuccessRate',
        'OpenBaoTooManyNonExpiringTokens',
        'SealwatchDown',
        'SealwatchNodeSealed',
        'SealwatchNoActiveNode',
        'SealwatchNotifierFailing',
        'SealwatchAuditIngestLagHigh',
        'SealwatchCriticalAlertFiring',
      ]),
    );
  });

  it('gives every rule a unique name, a severity, a summary, a description and a runbook or check', () => {
    const rules = allRules();
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(['critical', 'warning']).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length).toBeGreaterThan(10);
      expect(rule.annotations.description.length).toBeGreaterThan(20);
      expect(rule.annotations.runbook).not.toBe('');
      const diagnose = /^sealwatch runbook diagnose (\S+)$/.exec(rule.annotations.runbook);
      if (diagnose) expect(RUNBOOK_NAMES).toContain(diagnose[1]);
    }
  });

  it('selects only metrics OpenBao or sealwatch export, under the prefix given', () => {
    for (const prefix of ['vault', 'bao']) {
      const known = knownMetricNames(prefix);
      for (const rule of allRules(prefix)) {
        const names = metricsIn(rule.expr);
        expect(names.length, rule.alert).toBeGreaterThan(0);
        for (const name of names) expect(known, `${rule.alert}: ${name}`).toContain(name);
      }
    }
    expect(allRules('bao').find((r) => r.alert === 'OpenBaoSealed')!.expr).toContain('bao_core_unsealed');
  });

  it('scales for: durations for tests and formats them as Prometheus durations', () => {
    expect([300, 60, 0, 1.5, 0.25].map(promDuration)).toEqual(['5m', '1m', '0s', '1500ms', '250ms']);
    const scaled = prometheusRules({ ...ruleOptions({}), forScale: 0.01 }).groups.flatMap((g) => g.rules);
    expect(scaled.find((r) => r.alert === 'OpenBaoNodeDown')!.for).toBe('600ms');
    expect(allRules().find((r) => r.alert === 'OpenBaoNodeDown')!.for).toBe('1m');
  });

  it('wraps the same groups in a PrometheusRule for Kubernetes', () => {
    const plain: unknown = parse(renderPrometheusRules('rules', ruleOptions({})));
    const resource: unknown = parse(renderPrometheusRules('prometheusrule', ruleOptions({})));
    expect(resource).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'sealwatch' },
      spec: plain,
    });
  });

  it('refuses a prefix or a job name that would make invalid PromQL', () => {
    expect(() => ruleOptions({ metricsPrefix: 'a b' })).toThrow(UsageError);
    expect(() => ruleOptions({ openbaoJob: 'x"} or vector(1)' })).toThrow(/--openbao-job/);
    expect(ruleOptions({ metricsPrefix: 'bao', sealwatchJob: 'watch' })).toMatchObject({
      metricsPrefix: 'bao',
      openbaoJob: 'openbao',
      sealwatchJob: 'watch',
    });
  });
});

describe('grafana dashboard', () => {
  const text = JSON.stringify(grafanaDashboard({ metricsPrefix: 'vault' }));
  const dashboard = z
    .object({
      schemaVersion: z.number(),
      templating: z.object({
        list: z.array(z.object({ name: z.string(), type: z.string(), query: z.string() })),
      }),
      panels: z.array(
        z.object({
          id: z.number(),
          title: z.string(),
          targets: z.array(z.object({ expr: z.string(), datasource: z.object({ uid: z.string() }) })),
        }),
      ),
    })
    .parse(JSON.parse(text));

  it('has a Prometheus datasource variable that every query uses', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    for (const target of dashboard.panels.flatMap((p) => p.targets))
      expect(target.datasource.uid).toBe('${datasource}');
  });

  it('queries only metrics OpenBao or sealwatch export, with unique panel ids', () => {
    const known = knownMetricNames('vault');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets) {
        const names = metricsIn(expr);
        expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of names) expect(known, `${panel.title}: ${name}`).toContain(name);
      }
    }
  });

  it('has the panels an on-call needs', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const metric of [
      'sealwatch_node_sealed',
      'sealwatch_node_active',
      'sealwatch_alerts',
      'sealwatch_detections_total',
      'sealwatch_audit_events_ingested_total',
      'sealwatch_audit_ingest_lag_seconds',
      'vault_core_handle_request_count',
      'vault_expire_num_leases',
      'vault_token_count',
    ])
      expect(exprs).toContain(metric);
  });
});
