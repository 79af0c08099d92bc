/** Shapes of the Vault/OpenBao API answers sealwatch reads. Only the fields used are typed. */

export type ServerFlavor = 'openbao' | 'vault';

export interface ServerInfo {
  flavor: ServerFlavor;
  version: string;
  major: number;
  minor: number;
  patch: number;
}

export interface HealthStatus {
  node: string;
  /** HTTP status of sys/health: 200 active, 429 standby, 473 performance standby, 501 uninitialised, 503 sealed. */
  httpStatus: number;
  initialized: boolean;
  sealed: boolean;
  standby: boolean;
  version: string;
  cluster_name?: string;
  cluster_id?: string;
  server_time_utc?: number;
}

export interface SealStatus {
  type: string;
  initialized: boolean;
  sealed: boolean;
  t: number;
  n: number;
  progress: number;
  nonce: string;
  version: string;
  build_date?: string;
  commit_date?: string;
  migration?: boolean;
  recovery_seal: boolean;
  /** The seal that guards the recovery keys of an auto-unsealed server (`shamir`). */
  recovery_seal_type?: string;
  storage_type?: string;
  cluster_name?: string;
  cluster_id?: string;
}

export interface LeaderStatus {
  ha_enabled: boolean;
  is_self: boolean;
  leader_address: string;
  leader_cluster_address: string;
  active_time?: string;
  raft_committed_index?: number;
  raft_applied_index?: number;
}

export interface InitResponse {
  keys: string[];
  keys_base64: string[];
  recovery_keys?: string[];
  recovery_keys_base64?: string[];
  root_token: string;
}

export interface RaftServer {
  node_id: string;
  address: string;
  leader: boolean;
  protocol_version: string;
  voter: boolean;
}

export interface RaftConfiguration {
  config: { servers: RaftServer[]; index: number };
}

export interface AutopilotServer {
  id: string;
  name: string;
  address: string;
  node_status: string;
  last_contact: string;
  last_term: number;
  last_index: number;
  healthy: boolean;
  stable_since: string;
  status: string;
  version?: string;
  node_type?: string;
}

export interface AutopilotState {
  healthy: boolean;
  failure_tolerance: number;
  leader: string;
  voters: string[];
  servers: Record<string, AutopilotServer>;
}

export interface MountInfo {
  type: string;
  description: string;
  accessor: string;
  options: Record<string, string> | null;
  config?: Record<string, unknown>;
  local?: boolean;
  seal_wrap?: boolean;
}

export interface AuditDevice {
  path: string;
  type: string;
  description: string;
  options: Record<string, string>;
  local: boolean;
}

export interface TokenInfo {
  accessor: string;
  display_name: string;
  policies: string[];
  ttl: number;
  creation_ttl: number;
  expire_time: string | null;
  issue_time?: string;
  orphan: boolean;
  path: string;
  type: string;
  entity_id: string;
  meta: Record<string, string> | null;
  id?: string;
}

export interface TokenAuth {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies: string[];
  lease_duration: number;
  renewable: boolean;
  entity_id: string;
  orphan: boolean;
}

export interface TokenCreateRequest {
  policies?: string[];
  ttl?: string;
  explicit_max_ttl?: string;
  display_name?: string;
  no_parent?: boolean;
  no_default_policy?: boolean;
  renewable?: boolean;
  meta?: Record<string, string>;
  period?: string;
  type?: 'service' | 'batch';
}

export interface LeaseInfo {
  id: string;
  issue_time: string;
  expire_time: string | null;
  last_renewal: string | null;
  renewable: boolean;
  ttl: number;
}

/** Rekey (rotation of the unseal/recovery key shares) progress. */
export interface RekeyStatus {
  started: boolean;
  nonce: string;
  t: number;
  n: number;
  progress: number;
  required: number;
  pgp_fingerprints?: string[] | null;
  backup?: boolean;
  verification_required: boolean;
  verification_nonce?: string;
}

export interface RekeyUpdateResult extends Partial<RekeyStatus> {
  complete?: boolean;
  keys?: string[];
  keys_base64?: string[];
  pgp_fingerprints?: string[] | null;
  verification_required: boolean;
  verification_nonce?: string;
}

export interface RekeyInitRequest {
  secret_shares: number;
  secret_threshold: number;
  pgp_keys?: string[];
  backup?: boolean;
  require_verification?: boolean;
}

export interface GenerateRootStatus {
  started: boolean;
  nonce: string;
  progress: number;
  required: number;
  complete: boolean;
  encoded_token?: string;
  encoded_root_token?: string;
  otp?: string;
  otp_length: number;
  pgp_fingerprint?: string;
}

export interface KeyStatus {
  term: number;
  install_time: string;
  encryptions?: number;
}

export interface KvReadResult<T = Record<string, unknown>> {
  data: T;
  metadata: KvVersionMetadata;
}

export interface KvVersionMetadata {
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
  version: number;
  custom_metadata: Record<string, string> | null;
}

export interface KvMetadata {
  current_version: number;
  oldest_version: number;
  max_versions: number;
  cas_required: boolean;
  created_time: string;
  updated_time: string;
  custom_metadata: Record<string, string> | null;
  versions: Record<string, { created_time: string; deletion_time: string; destroyed: boolean }>;
}

export interface KvWriteResult {
  version: number;
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

/** The standard envelope of most Vault answers. */
export interface Envelope<T> {
  request_id?: string;
  lease_id?: string;
  lease_duration?: number;
  renewable?: boolean;
  data: T;
  auth: TokenAuth | null;
  warnings: string[] | null;
  wrap_info?: unknown;
}
