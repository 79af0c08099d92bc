import type { Generated } from 'kysely';

/**
 * Every table sealwatch keeps. Timestamps are ISO-8601 UTC strings (sortable, the same on SQLite
 * and PostgreSQL); booleans are 0/1 integers for the same reason.
 */
export interface Database {
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
