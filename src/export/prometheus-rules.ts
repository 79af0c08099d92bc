import { stringify } from 'yaml';
import { UsageError } from '../errors.js';
import type { RUNBOOKS } from '../runbooks/registry.js';
import { DEFAULT_MEMORY_RATIO } from '../runbooks/runbooks/memory.runbook.js';
import { DEFAULT_RULE_SETTINGS } from '../watch/rule-settings.js';
import { openBaoMetric, SEALWATCH_METRICS, type OpenBaoMetric } from './metric-names.js';

export type Severity = 'critical' | 'warning';
type RunbookName = keyof typeof RUNBOOKS;

/** One alerting rule as Prometheus loads it. */
export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook: string };
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertingRule[];
}

export interface RuleFile {
  readonly groups: readonly RuleGroup[];
}

export const RULE_FORMATS = ['rules', 'prometheusrule'] as const;
export type RuleFormat = (typeof RULE_FORMATS)[number];

export interface RuleOptions {
  /** OpenBao's `telemetry.metrics_prefix` (OpenBao and Vault default: `vault`). */
  readonly metricsPrefix: string;
  /** The Prometheus job that scrapes OpenBao's sys/metrics. */
  readonly openbaoJob: string;
  /** The Prometheus job that scrapes `sealwatch watch`. */
  readonly sealwatchJob: string;
  /**
   * Multiplies every `for:` duration: 1 in production; a test that wants to see an alert fire in
   * seconds passes a small factor. Not a CLI flag.
   */
  readonly forScale?: number;
}

const DEFAULT_RULE_OPTIONS: RuleOptions = Object.freeze({
  metricsPrefix: 'vault',
  openbaoJob: 'openbao',
  sealwatchJob: 'sealwatch',
});

/** Telemetry prefixes OpenBao accepts and Prometheus can name: letters, digits, `_`, `:` and `.`. */
const METRICS_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:.]*$/;
/** A job name goes inside a PromQL string literal: no quote, no backslash, no newline. */
const JOB_NAME = /^[^"\\\n]+$/;

/** Rule options from user input, checked: a prefix or job that would make invalid PromQL is a usage error. */
export function ruleOptions(input: Partial<RuleOptions>): RuleOptions {
  const options = { ...DEFAULT_RULE_OPTIONS, ...input };
  if (!METRICS_PREFIX.test(options.metricsPrefix))
    throw new UsageError(
      `--metrics-prefix ${JSON.stringify(options.metricsPrefix)} is not a metric prefix: use letters, digits, _ and : (OpenBao's default is vault)`,
    );
  for (const [flag, job] of [
    ['--openbao-job', options.openbaoJob],
    ['--sealwatch-job', options.sealwatchJob],
  ] as const)
    if (!JOB_NAME.test(job))
      throw new UsageError(
        `${flag} ${JSON.stringify(job)} is not a job name: no quotes, backslashes or newlines`,
      );
  return Object.freeze(options);
}

/** Never-expiring tokens above which the usage gauge alerts (root and long-lived service tokens). */
const NON_EXPIRING_TOKEN_LIMIT = 10;
/** Raft entries waiting for the FSM above which a node is falling behind. */
const RAFT_FSM_PENDING_LIMIT = 10;
/** Share of requests answered 5xx above which the success rate is low. */
const ERROR_RATIO_LIMIT = 0.05;
/** New leases within LEASE_GROWTH_WINDOW above which (and above +50 %) lease growth alerts (watch's defaults). */
const LEASE_GROWTH_MIN = DEFAULT_RULE_SETTINGS.leaseGrowthMin;
const LEASE_GROWTH_FRACTION = DEFAULT_RULE_SETTINGS.leaseGrowthFraction;
const LEASE_GROWTH_WINDOW = promDuration(DEFAULT_RULE_SETTINGS.leaseGrowthWithinMs / 1000);
/** Failed logins per window, and times the baseline, above which the failure rate alerts (watch's defaults). */
const AUTH_FAILURES_MIN = DEFAULT_RULE_SETTINGS.authFailuresMin;
const AUTH_FAILURES_FACTOR = DEFAULT_RULE_SETTINGS.authFailuresFactor;
/** Seconds the audit stream may lag behind the server before it is a fault. */
const INGEST_LAG_LIMIT_SECONDS = 60;

/** The runbook that diagnoses it. */
interface DiagnosedBy {
  readonly runbook: RunbookName;
}

/** sealwatch's own faults, which no runbook diagnoses: what to look at instead. */
interface CheckedBy {
  readonly check: string;
}

/** A rule as written below: `forSeconds` is scaled and formatted, the runbook becomes a command. */
type RuleSpec = {
  readonly alert: string;
  readonly expr: string;
  readonly forSeconds: number;
  readonly severity: Severity;
  readonly summary: string;
  readonly description: string;
} & (DiagnosedBy | CheckedBy);

/** Seconds as a Prometheus duration (`300` → `5m`, `1.5` → `1500ms`). */
export function promDuration(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function toRule(spec: RuleSpec, forScale: number): AlertingRule {
  const runbook = 'runbook' in spec ? `sealwatch runbook diagnose ${spec.runbook}` : spec.check;
  return {
    alert: spec.alert,
    expr: spec.expr,
    for: promDuration(spec.forSeconds * forScale),
    labels: { severity: spec.severity },
    annotations: { summary: spec.summary, description: spec.description, runbook },
  };
}

/**
 * Rules over OpenBao's own telemetry. Seal state: every node refreshes `core.unsealed` each second;
 * a node that still answers its scrape once sealed shows 0 (OpenBao 2.7.2 with unauthenticated
 * metrics access does), one that does not answer is `up == 0`. Every node also keeps a
 * `cluster=""` series from before it was first unsealed (an uninitialised node has only that
 * one, at 0), so seal state is the max per instance, never a single series.
 */
function openBaoRules(options: RuleOptions): RuleSpec[] {
  const job = `job="${options.openbaoJob}"`;
  const m = (metric: OpenBaoMetric) => openBaoMetric(options.metricsPrefix, metric);
  return [
    {
      alert: 'OpenBaoSealed',
      expr: `max by (job, instance) (${m('unsealed')}{${job}}) == 0`,
      forSeconds: 0,
      severity: 'critical',
      summary: 'OpenBao node {{ $labels.instance }} is sealed or not initialised',
      description:
        'The node reports core.unsealed = 0: it answers nothing but seal, unseal and health until a threshold of key holders unseals it. An uninitialised node reports the same (telemetry cannot tell them apart; sys/health can: 503 sealed, 501 uninitialised).',
      runbook: 'sealed',
    },
    {
      alert: 'OpenBaoNodeDown',
      expr: `up{${job}} == 0`,
      forSeconds: 60,
      severity: 'critical',
      summary: 'OpenBao node {{ $labels.instance }} does not answer its metrics scrape',
      description:
        'Prometheus cannot scrape sys/metrics: the process is down, unreachable, or refuses the scrape (sealed or uninitialised nodes answer no metrics when the scrape needs a token).',
      runbook: 'cluster-failure',
    },
    {
      alert: 'OpenBaoNoActiveNode',
      expr: `(sum(max by (instance) (${m('active')}{${job}})) < 1) or absent(${m('active')}{${job}})`,
      forSeconds: 60,
      severity: 'critical',
      summary: 'No OpenBao node is active',
      description:
        'No scraped node reports core.active = 1: every request fails. Sealed nodes, a lost raft quorum, or standbys that cannot take over (audit stanzas that differ between nodes) are the usual causes.',
      runbook: 'leader-election',
    },
    {
      alert: 'OpenBaoAutopilotUnhealthy',
      expr: `${m('autopilotHealthy')}{${job}} == 0`,
      forSeconds: 120,
      severity: 'critical',
      summary: 'Raft autopilot reports the cluster unhealthy',
      description:
        'The leader’s autopilot considers at least one voter unhealthy (behind on the log, not heard from, or not a voter).',
      runbook: 'leader-election',
    },
    {
      alert: 'OpenBaoNoFailureTolerance',
      expr: `${m('autopilotFailureTolerance')}{${job}} < 1`,
      forSeconds: 600,
      severity: 'warning',
      summary: 'The raft cluster cannot lose another voter',
      description:
        'Autopilot’s failure tolerance is 0: one more voter lost means no quorum and no active node. Expected on a single-node cluster.',
      runbook: 'leader-election',
    },
    {
      alert: 'OpenBaoRaftFsmPending',
      expr: `${m('raftFsmPending')}{${job}} > ${RAFT_FSM_PENDING_LIMIT}`,
      forSeconds: 300,
      severity: 'warning',
      summary: 'Raft entries wait to be applied on {{ $labels.instance }}',
      description: `More than ${RAFT_FSM_PENDING_LIMIT} committed raft entries are not yet applied to the FSM: the node’s storage is slow or overloaded.`,
      runbook: 'storage',
    },
    {
      alert: 'OpenBaoAuditLogRequestFailures',
      expr: `increase(${m('auditLogRequestFailure')}{${job}}[5m]) > 0`,
      forSeconds: 0,
      severity: 'critical',
      summary: 'OpenBao failed to write audit requests on {{ $labels.instance }}',
      description:
        'An audit device failed to log a request. When no enabled device records a request, OpenBao refuses it: clients see internal errors.',
      runbook: 'storage',
    },
    {
      alert: 'OpenBaoAuditLogResponseFailures',
      expr: `increase(${m('auditLogResponseFailure')}{${job}}[5m]) > 0`,
      forSeconds: 0,
      severity: 'critical',
      summary: 'OpenBao failed to write audit responses on {{ $labels.instance }}',
      description:
        'An audit device failed to log a response: the audit trail has a gap and requests may be refused.',
      runbook: 'storage',
    },
    {
      alert: 'OpenBaoLowResponseSuccessRate',
      expr: `sum by (job) (rate(${m('responseStatusCode')}{${job},type="5xx"}[5m])) / sum by (job) (rate(${m('responseStatusCode')}{${job}}[5m])) > ${ERROR_RATIO_LIMIT}`,
      forSeconds: 300,
      severity: 'warning',
      summary: 'More than 5% of requests fail with a server error',
      description:
        'Share of responses with a 5xx status over 5 minutes. HashiCorp Vault exports core.response_status_code; OpenBao 2.7.2 does not, so this rule stays silent there.',
      runbook: 'storage',
    },
    {
      alert: 'OpenBaoTooManyNonExpiringTokens',
      expr: `sum by (job) (${m('tokenCountByTtl')}{${job},creation_ttl="+Inf"}) > ${NON_EXPIRING_TOKEN_LIMIT}`,
      forSeconds: 900,
      severity: 'warning',
      summary: 'Too many tokens that never expire',
      description: `More than ${NON_EXPIRING_TOKEN_LIMIT} live tokens have no TTL (root tokens, periodic-less orphan tokens): each one is a credential that stays valid after a breach until someone revokes it. The gauge is refreshed every usage_gauge_period (10 min by default).`,
      runbook: 'secret-leak',
    },
    {
      alert: 'OpenBaoMemoryHigh',
      expr: `${m('runtimeAllocBytes')}{${job}} / ${m('runtimeSysBytes')}{${job}} > ${DEFAULT_MEMORY_RATIO}`,
      forSeconds: 300,
      severity: 'warning',
      summary: 'OpenBao node {{ $labels.instance }} uses most of the memory it holds',
      description: `Heap in use (runtime.alloc_bytes) is above ${DEFAULT_MEMORY_RATIO * 100}% of the memory the process holds from the OS (runtime.sys_bytes), the memory runbook’s threshold. Only the active node exports runtime gauges with data.`,
      runbook: 'memory',
    },
    {
      alert: 'OpenBaoLeaseCountGrowth',
      expr: leaseGrowthExpr(m('expireNumLeases'), job),
      forSeconds: 0,
      severity: 'warning',
      summary: 'The lease count grows fast on {{ $labels.instance }}',
      description: `expire.num_leases grew by at least ${LEASE_GROWTH_MIN} and by more than ${LEASE_GROWTH_FRACTION * 100}% of its lowest value within ${LEASE_GROWTH_WINDOW}: something creates tokens or dynamic secrets faster than they expire, and every lease slows the next failover.`,
      runbook: 'memory',
    },
  ];
}

/** The lease count's growth over the window's lowest value, by count and by fraction. */
function leaseGrowthExpr(leases: string, job: string): string {
  const lowest = `min_over_time(${leases}{${job}}[${LEASE_GROWTH_WINDOW}])`;
  const growth = `(${leases}{${job}} - ${lowest})`;
  return `${growth} >= ${LEASE_GROWTH_MIN} and ${growth} > ${LEASE_GROWTH_FRACTION} * clamp_min(${lowest}, 1)`;
}

/** Rules over the metrics `sealwatch watch` serves (names: SEALWATCH_METRICS). */
function sealwatchRules(options: RuleOptions): RuleSpec[] {
  const s = SEALWATCH_METRICS;
  const job = `job="${options.sealwatchJob}"`;
  return [
    {
      alert: 'SealwatchDown',
      expr: `up{${job}} == 0 or absent(up{${job}})`,
      forSeconds: 120,
      severity: 'critical',
      summary: 'sealwatch watch is not scraped',
      description:
        'Prometheus cannot reach sealwatch watch: nothing watches seal state, the audit stream or the detections until it is back.',
      check: 'sealwatch status (then restart sealwatch watch and read its log)',
    },
    {
      alert: 'SealwatchNodeSealed',
      expr: `${s.nodeSealed}{${job}} == 1`,
      forSeconds: 0,
      severity: 'critical',
      summary: 'sealwatch sees node {{ $labels.node }} sealed',
      description: 'sys/health answered 503 (sealed): seal state from health, not from a missing scrape.',
      runbook: 'sealed',
    },
    {
      alert: 'SealwatchNodeUnreachable',
      expr: `${s.nodeUp}{${job}} == 0`,
      forSeconds: 60,
      severity: 'critical',
      summary: 'sealwatch cannot reach node {{ $labels.node }}',
      description: 'sys/health did not answer: the node is down, unreachable or hanging.',
      runbook: 'cluster-failure',
    },
    {
      alert: 'SealwatchNoActiveNode',
      expr: `max by (job, instance) (${s.nodeActive}{${job}}) < 1`,
      forSeconds: 60,
      severity: 'critical',
      summary: 'sealwatch sees no active node',
      description: 'No node answers sys/health with 200 (active): the cluster serves no request.',
      runbook: 'leader-election',
    },
    {
      alert: 'SealwatchNotifierFailing',
      expr: `increase(${s.notifierFailuresTotal}{${job}}[10m]) > 0`,
      forSeconds: 0,
      severity: 'warning',
      summary: 'sealwatch cannot deliver notifications on {{ $labels.channel }}',
      description:
        'The channel failed after its retries: alerts are queued and will be retried, but nobody is being paged through it.',
      check: 'sealwatch watch log (notifier errors name the channel and the answer)',
    },
    {
      alert: 'SealwatchAuditIngestLagHigh',
      expr: `${s.auditIngestLagSeconds}{${job}} > ${INGEST_LAG_LIMIT_SECONDS}`,
      forSeconds: 300,
      severity: 'warning',
      summary: 'sealwatch’s audit stream lags behind the server',
      description: `The newest ingested audit event is more than ${INGEST_LAG_LIMIT_SECONDS} s older than the server’s time: detections arrive late.`,
      check: 'sealwatch audit query (newest stored event) and the watch log',
    },
    {
      alert: 'SealwatchCriticalAlertFiring',
      expr: `${s.alerts}{${job},severity="critical",state="firing"} > 0`,
      forSeconds: 0,
      severity: 'critical',
      summary: 'sealwatch alert {{ $labels.rule }} is firing',
      description:
        'A critical sealwatch alert or detection rule is firing; its notification names the evidence.',
      check: 'sealwatch alerts list',
    },
    {
      alert: 'SealwatchSnapshotStale',
      expr: `${s.snapshotAgeSeconds}{${job}} > ${s.snapshotMaxAgeSeconds}{${job}}`,
      forSeconds: 0,
      severity: 'warning',
      summary: 'The newest verified snapshot is older than the backup schedule, or there is none',
      description:
        'sealwatch_snapshot_age_seconds (the newest snapshot whose backup verify drill passed) is above the schedule watch.rules.snapshot_max_age; it is +Inf when no snapshot was ever verified. Both series exist only while a schedule is set.',
      runbook: 'cluster-failure',
    },
    {
      alert: 'SealwatchAuthFailureRateHigh',
      expr: `${s.failedLogins}{${job},window="recent"} >= ${AUTH_FAILURES_MIN} and ignoring (window) ${s.failedLogins}{${job},window="recent"} > ignoring (window) ${AUTH_FAILURES_FACTOR} * ${s.failedLogins}{${job},window="expected"}`,
      forSeconds: 0,
      severity: 'warning',
      summary: 'Failed logins are above their baseline',
      description: `At least ${AUTH_FAILURES_MIN} failed logins in watch’s current window (watch.rules.auth_failures_within), more than ${AUTH_FAILURES_FACTOR} times the rate of the baseline window before it: password guessing, credential stuffing, or a client whose credentials changed.`,
      runbook: 'auth-failures',
    },
  ];
}

/** The rule groups, as data: `openbao` over OpenBao's telemetry, `sealwatch` over watch's metrics. */
export function prometheusRules(options: RuleOptions = DEFAULT_RULE_OPTIONS): RuleFile {
  const scale = options.forScale ?? 1;
  return {
    groups: [
      { name: 'openbao', rules: openBaoRules(options).map((spec) => toRule(spec, scale)) },
      { name: 'sealwatch', rules: sealwatchRules(options).map((spec) => toRule(spec, scale)) },
    ],
  };
}

/** The same groups as a Kubernetes PrometheusRule (prometheus-operator, monitoring.coreos.com/v1). */
function prometheusRuleResource(rules: RuleFile, name = 'sealwatch') {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'sealwatch' } },
    spec: rules,
  };
}

/** The rule document in the format asked for: Prometheus's rule file or a PrometheusRule. */
export function ruleDocument(format: RuleFormat, options: RuleOptions = DEFAULT_RULE_OPTIONS) {
  const rules = prometheusRules(options);
  return format === 'prometheusrule' ? prometheusRuleResource(rules) : rules;
}

/** The rule document as YAML (what Prometheus and kubectl read). */
export function renderPrometheusRules(
  format: RuleFormat,
  options: RuleOptions = DEFAULT_RULE_OPTIONS,
): string {
  return stringify(ruleDocument(format, options), { lineWidth: 0 });
}
