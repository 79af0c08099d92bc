/** What one poll cycle saw: every node, the leader's view of raft, its telemetry, and watch's own faults. */

export interface NodeSample {
  address: string;
  /** Answered sys/health in time. */
  up: boolean;
  /** Why it did not answer (timeout, refused, …). */
  error: string | undefined;
  /** sys/health status: 200 active, 429 standby, 473 performance standby, 501 uninitialised, 503 sealed. */
  httpStatus: number | undefined;
  sealed: boolean | undefined;
  initialized: boolean | undefined;
  /** The active node (sys/health 200). */
  active: boolean;
  version: string | undefined;
  /** build_date (Vault, OpenBao before 2.6) or commit_date (OpenBao 2.6+) of sys/seal-status. */
  buildDate: string | undefined;
  pollSeconds: number;
}

/** A value read from the leader, or why it could not be read (a check that could not look says so). */
export type Observed<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface AutopilotSample {
  healthy: boolean;
  failureTolerance: number;
}

export interface AuditFailureCounters {
  /** vault.audit.log_request_failure, summed over devices (0 when the server never counted one). */
  requestFailures: number;
  responseFailures: number;
}

/**
 * The active node's runtime and expiration gauges (sys/metrics): what memory-high and
 * lease-count-growth read. A gauge the server did not export is undefined (could not look).
 */
export interface LeaderTelemetry {
  node: string;
  /** vault.runtime.alloc_bytes: heap in use. */
  allocBytes: number | undefined;
  /** vault.runtime.sys_bytes: memory the process holds from the OS. */
  sysBytes: number | undefined;
  /** vault.expire.num_leases: leases the expiration manager tracks. */
  leases: number | undefined;
}

/** What the store says about the newest verified snapshot (`backup snapshot` then `backup verify`). */
export interface SnapshotSample {
  /** undefined: no snapshot was ever verified (or its file is gone). */
  newest: { id: string; takenAt: string; file: string; verifiedAt: string } | undefined;
  /** The schedule it is held to (watch.rules.snapshot_max_age). */
  maxAgeMs: number;
}

/** Failed logins (responses to auth/<mount>/login that issued no token) in the audit store. */
export interface AuthFailureSample {
  /** In the last `withinMs` (the current window). */
  recent: number;
  /** In the `baselineMs` before the current window. */
  baseline: number;
  withinMs: number;
  baselineMs: number;
}

/** Faults of watch itself: each is an alert of its own. */
export interface WatchFaults {
  /** Audit socket listeners that are not listening, with why. */
  auditSockets: { bind: string; error: string }[];
  /** The store could not be read or written, with why. */
  store: string | undefined;
  /** Channels whose last delivery failed, with why. */
  notifiers: { channel: string; error: string }[];
}

export interface ClusterSample {
  at: Date;
  nodes: NodeSample[];
  /** The active node's address, if one answered 200. */
  leader: string | undefined;
  /** From the leader only; undefined when there is no leader to ask. */
  autopilot: Observed<AutopilotSample> | undefined;
  /** sys/metrics of the active node only; undefined when there is no leader to ask. */
  auditFailures: Observed<AuditFailureCounters> | undefined;
  faults: WatchFaults;
  /** Runtime and lease gauges of the active node; undefined when there is no leader to ask. */
  telemetry?: Observed<LeaderTelemetry> | undefined;
  /** From the store; undefined when watch.rules.snapshot_max_age is not set (not checked). */
  snapshot?: Observed<SnapshotSample> | undefined;
  /** From the audit store's failed logins; undefined when not read this cycle. */
  authFailures?: Observed<AuthFailureSample> | undefined;
  /** Listener certificates by TLS handshake; undefined in cycles that do not probe them. */
  tls: TlsSample[] | undefined;
}

export interface TlsSample {
  /** host:port */
  listener: string;
  certificate: Observed<{ daysLeft: number; notAfter: string; subject: string }>;
}
