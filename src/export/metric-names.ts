/**
 * The metric names the generated rules and dashboard use, in one place so that both are checked
 * against the same lists. OpenBao's names were read from what OpenBao 2.7.2 serves at
 * `sys/metrics?format=prometheus` (a lab node, unsealed then sealed) and from its source
 * (`vault/core_metrics.go` for the usage gauges, which appear only after `usage_gauge_period`).
 */

/** OpenBao telemetry, by role: the path after the prefix, as the server names it (dots). */
export const OPENBAO_METRIC_PATHS = {
  /** 1 unsealed, 0 sealed; refreshed every second on every node. */
  unsealed: 'core.unsealed',
  /** 1 on the active node, 0 on standbys. */
  active: 'core.active',
  /** Reported by the raft leader only. */
  autopilotHealthy: 'autopilot.healthy',
  autopilotFailureTolerance: 'autopilot.failure_tolerance',
  /** Raft log entries committed but not yet applied to the FSM, per peer. */
  raftFsmPending: 'raft_storage.stats.fsm_pending',
  auditLogRequestFailure: 'audit.log_request_failure',
  auditLogResponseFailure: 'audit.log_response_failure',
  /** Request handling time in ms, a summary (quantile label, _count, _sum). */
  handleRequest: 'core.handle_request',
  /** Usage gauge (every `usage_gauge_period`, default 10 min), label `creation_ttl` (`+Inf`: never expires). */
  tokenCountByTtl: 'token.count.by_ttl',
  /** Usage gauge: tokens per namespace. */
  tokenCount: 'token.count',
  /** Tokens created, label `creation_ttl`, `auth_method`, `token_type`. */
  tokenCreation: 'token.creation',
  expireNumLeases: 'expire.num_leases',
  /** Go runtime: heap in use, and memory held from the OS (the memory runbook's ratio). */
  runtimeAllocBytes: 'runtime.alloc_bytes',
  runtimeSysBytes: 'runtime.sys_bytes',
  inFlightRequests: 'core.in_flight_requests',
  /**
   * HashiCorp Vault only (labels `code`, `type` such as `5xx`): OpenBao 2.7.2 does not export it, so
   * the rule built on it never fires there.
   */
  responseStatusCode: 'core.response_status_code',
} as const;

export type OpenBaoMetric = keyof typeof OPENBAO_METRIC_PATHS;

/** Prometheus form of a telemetry name: `vault` + `core.unsealed` → `vault_core_unsealed`. */
export function prometheusName(prefix: string, path: string): string {
  return `${prefix}.${path}`.replace(/[^a-zA-Z0-9_:]/g, '_');
}

/** The Prometheus name of one OpenBao metric under a `metrics_prefix` (OpenBao keeps `vault`). */
export function openBaoMetric(prefix: string, metric: OpenBaoMetric): string {
  return prometheusName(prefix, OPENBAO_METRIC_PATHS[metric]);
}

/**
 * sealwatch's own metrics as `sealwatch watch` serves them on /metrics: a contract with src/watch
 * (names and labels), which the rules and the dashboard rely on.
 */
export const SEALWATCH_METRICS = {
  /** {node} 1 when the node answered sys/health, 0 when not. */
  nodeUp: 'sealwatch_node_up',
  /** {node} 1 sealed (sys/health 503), 0 unsealed. */
  nodeSealed: 'sealwatch_node_sealed',
  /** {node} 1 on the active node. */
  nodeActive: 'sealwatch_node_active',
  /** {rule, severity, state} gauge: alerts pending or firing. */
  alerts: 'sealwatch_alerts',
  /** {rule} detections by rule. */
  detectionsTotal: 'sealwatch_detections_total',
  auditEventsIngestedTotal: 'sealwatch_audit_events_ingested_total',
  auditIngestLagSeconds: 'sealwatch_audit_ingest_lag_seconds',
  /** {channel} */
  notifierFailuresTotal: 'sealwatch_notifier_failures_total',
  /** {node} */
  pollDurationSeconds: 'sealwatch_poll_duration_seconds',
  /** Age of the newest verified snapshot, +Inf when there is none; absent while snapshot_max_age is not set. */
  snapshotAgeSeconds: 'sealwatch_snapshot_age_seconds',
  /** The schedule it is held to (watch.rules.snapshot_max_age); absent when not set. */
  snapshotMaxAgeSeconds: 'sealwatch_snapshot_max_age_seconds',
  /** {window}: failed logins in the current window ("recent") and the baseline's rate per window ("expected"). */
  failedLogins: 'sealwatch_failed_logins',
} as const;

/** Series a summary or histogram adds to its base name. */
const DERIVED_SUFFIXES = ['_count', '_sum', '_bucket'];

/**
 * Every metric name a rule or a panel may use: OpenBao's (with a summary's series), sealwatch's,
 * and Prometheus's own `up`.
 */
export function knownMetricNames(prefix: string): ReadonlySet<string> {
  const base = [
    ...Object.values(OPENBAO_METRIC_PATHS).map((path) => prometheusName(prefix, path)),
    ...Object.values(SEALWATCH_METRICS),
    'up',
  ];
  return new Set(base.flatMap((name) => [name, ...DERIVED_SUFFIXES.map((suffix) => name + suffix)]));
}
