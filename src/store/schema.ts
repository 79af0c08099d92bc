import type { Generated } from 'kysely';

/**
 * Every table sealwatch keeps. Timestamps are ISO-8601 UTC strings (sortable, the same on SQLite
 * and PostgreSQL); booleans are 0/1 integers for the same reason.
 */
export interface Database {
  rotation_runs: RotationRunTable;
  rotation_items: RotationItemTable;
  rotation_records: RotationRecordTable;
  sealwatch_meta: SealwatchMetaTable;
  node_observations: NodeObservationTable;
  audit_events: AuditEventTable;
  revoked_accessors: RevokedAccessorTable;
  audit_checkpoints: AuditCheckpointTable;
  incidents: IncidentTable;
  incident_steps: IncidentStepTable;
  incident_events: IncidentEventTable;
  notifications: NotificationTable;
  backups: BackupTable;
  backup_verifications: BackupVerificationTable;
  alerts: AlertTable;
  alert_silences: AlertSilenceTable;
  alert_outbox: AlertOutboxTable;
  watch_leases: WatchLeaseTable;
  posture_baselines: PostureBaselineTable;
}

export interface SealwatchMetaTable {
  key: string;
  value: string;
}

export interface NodeObservationTable {
  id: Generated<number>;
  observed_at: string;
  address: string;
  reachable: number;
  initialized: number | null;
  sealed: number | null;
  is_leader: number;
  version: string | null;
  seal_type: string | null;
  error: string | null;
  key_shares: number | null;
  key_threshold: number | null;
}

/** A normalised audit event (src/store/audit-event.ts); JSON columns are text, booleans 0/1. */
export interface AuditEventTable {
  id: Generated<number>;
  event_key: string;
  time: string;
  type: string;
  request_id: string | null;
  operation: string | null;
  path: string | null;
  mount_point: string | null;
  mount_type: string | null;
  namespace: string | null;
  remote_address: string | null;
  remote_port: number | null;
  accessor: string | null;
  accessor_hmac: number;
  display_name: string | null;
  policies: string;
  entity_id: string | null;
  token_type: string | null;
  metadata: string | null;
  error: string | null;
  wrap_info: string | null;
  tenant: string | null;
  hmac_values: string;
  source: string;
  /** Added by 0003-audit-analysis; see AuditEvent.issued_token_ttl. */
  issued_token_ttl: number | null;
  /** Added by 0100-revoked-accessors: the key (hmac-key.ts) of request.client_token's HMAC. */
  client_token: string | null;
}

/** Token accessors an incident's containment revoked: the tripwire (0100-revoked-accessors). */
export interface RevokedAccessorTable {
  accessor: string;
  incident_id: string | null;
  revoked_at: string;
}

export interface AuditCheckpointTable {
  source: string;
  inode: string;
  offset: string | number | bigint;
  line: string | number | bigint;
  updated_at: Generated<string>;
}

/** One `sealwatch rotate` run; selection and options are JSON. */
export interface RotationRunTable {
  run_id: string;
  created_at: string;
  updated_at: string;
  state: string;
  selection: string;
  options: string;
  incident_id: string | null;
}

/** One secret of a run: the phase it completed, the one it is in, and what went wrong. */
export interface RotationItemTable {
  id: Generated<number>;
  run_id: string;
  tenant: string;
  kind: string;
  path: string;
  target: string | null;
  phase: string;
  in_phase: string | null;
  state: string;
  attempts: number;
  previous_version: number | null;
  staged_version: number | null;
  error: string | null;
  error_phase: string | null;
  retire_after: string | null;
  updated_at: string;
}

export interface RotationRecordTable {
  id: Generated<number>;
  run_id: string;
  tenant: string;
  event: string;
  at: string;
  details: string;
}

/** An incident (src/playbook/incident.service.ts); options is JSON. */
export interface IncidentTable {
  id: string;
  type: string;
  severity: string;
  declared_by: string;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  state: string;
  options: string;
  owner: string | null;
}

/** One step of an incident's playbook; evidence, verify_evidence and outputs are JSON. */
export interface IncidentStepTable {
  incident_id: string;
  step_id: string;
  position: number;
  title: string;
  status: string;
  needs_approval: number;
  started_at: string | null;
  attempt_started_at: string | null;
  ended_at: string | null;
  measured_seconds: number | null;
  target_seconds: number;
  evidence: string | null;
  verify_evidence: string | null;
  outputs: string | null;
  error: string | null;
  attempts: number;
}

/** The incident timeline: every transition of the incident and its steps. */
export interface IncidentEventTable {
  id: Generated<number>;
  incident_id: string;
  at: string;
  step_id: string | null;
  event: string;
  details: string;
}

/** One tenant notice on one channel (0030-notifications). */
export interface NotificationTable {
  id: Generated<number>;
  incident_id: string;
  tenant: string;
  channel: string;
  recipient: string | null;
  message_id: string;
  state: string;
  attempts: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}

/** A raft snapshot taken by `backup snapshot` (0050-backups); baseline is JSON, with no secret value. */
export interface BackupTable {
  id: string;
  taken_at: string;
  file: string;
  /** bigint on PostgreSQL: node-postgres answers it as a string. */
  bytes: number | string | bigint;
  sha256: string;
  cluster_name: string | null;
  cluster_id: string | null;
  leader_address: string | null;
  server_flavor: string;
  server_version: string;
  key_shares: number | null;
  key_threshold: number | null;
  baseline: string;
}

/** One `backup verify` drill of a snapshot file; checks and seconds are JSON. */
export interface BackupVerificationTable {
  id: Generated<number>;
  backup_id: string | null;
  file: string;
  sha256: string;
  started_at: string;
  finished_at: string;
  ok: number;
  checks: string;
  seconds: string;
  error: string | null;
}

/** One `watch` alert per fingerprint (0080-alerts); labels JSON. */
export interface AlertTable {
  fingerprint: string;
  rule: string;
  severity: string;
  state: string;
  labels: string;
  summary: string;
  runbook: string | null;
  started_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  last_seen_at: string;
  last_notified_at: string | null;
  /** The state the last notice told (firing or resolved): what a restarted watch must not repeat. */
  notified_state: string | null;
  acked_by: string | null;
  acked_at: string | null;
  silenced_by: string | null;
}

/** A silence: label matchers (JSON object), who made it and until when. */
export interface AlertSilenceTable {
  id: string;
  matchers: string;
  author: string;
  comment: string;
  created_at: string;
  ends_at: string;
}

/** A notice waiting to leave (or sent, or given up on), per alert and channel. */
export interface AlertOutboxTable {
  id: Generated<number>;
  fingerprint: string;
  channel: string;
  kind: string;
  payload: string;
  state: string;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
  /** Notices of one group and channel due together leave as one message (0110-watch-ha). */
  group_key: string | null;
  /** The message this notice left in: what the per-channel rate limit counts. */
  message_id: string | null;
}

/** A lease held by one process (0110-watch-ha); times are ms of the database's clock. */
export interface WatchLeaseTable {
  name: string;
  holder: string;
  epoch: number | string | bigint;
  acquired_at_ms: number | string | bigint;
  expires_at_ms: number | string | bigint;
}

/** One `posture baseline`; findings are JSON. */
export interface PostureBaselineTable {
  id: Generated<number>;
  taken_at: string;
  server: string;
  findings: string;
}
