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
  audit_checkpoints: AuditCheckpointTable;
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
}

/** A normalised audit event (src/audit/audit-event.ts); JSON columns are text, booleans 0/1. */
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
