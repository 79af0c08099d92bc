/**
 * One audit-log entry normalised: what every audit consumer (query, assess, leak trace) reads.
 * Values the audit device HMACs stay HMAC'd (`hmac-sha256:…`); sealwatch never sees them in clear.
 */
export type AuditEventType = 'request' | 'response';

export interface AuditEvent {
  /** Stable identity: `<request_id>:<type>`, or `line:<sha256 of the line>` without a request id. Duplicates share it. */
  event_key: string;
  /** ISO-8601 UTC, as the device wrote it. */
  time: string;
  type: AuditEventType;
  request_id: string | null;
  operation: string | null;
  path: string | null;
  mount_point: string | null;
  mount_type: string | null;
  namespace: string | null;
  remote_address: string | null;
  remote_port: number | null;
  /** client_token_accessor: raw or HMAC'd, see `accessor_hmac`. */
  accessor: string | null;
  accessor_hmac: boolean;
  display_name: string | null;
  /** token_policies (or policies) of the caller. */
  policies: string[];
  entity_id: string | null;
  token_type: string | null;
  /** auth.metadata (role_name, username, …). */
  metadata: Record<string, string> | null;
  /** The error string of a failed call; null when it succeeded. */
  error: string | null;
  /** response.wrap_info when the response was wrapped (accessor, ttl, creation path). */
  wrap_info: Record<string, unknown> | null;
  /** Tenant the path belongs to by the configured templates (exclusions are applied when reading). */
  tenant: string | null;
  /**
   * The keys (hmac-key.ts) of every `hmac-sha256:` value the entry carries (request/response data,
   * client tokens), space-separated; stores written before keys hold the full strings.
   */
  hmac_values: string;
  /**
   * response.auth.token_ttl in seconds when the response issued a token (login, auth/token/create*);
   * 0 means the token never expires. Absent or null otherwise. The token-TTL detection rule reads it:
   * request.data.ttl is HMAC'd, so this is the only place the log says how long a new token lives.
   */
  issued_token_ttl?: number | null;
  /**
   * The key (hmac-key.ts) of request.client_token's HMAC, or null. A call made with a revoked
   * token carries no accessor on OpenBao 2.7.2, only this: the tripwire recognises the token by it.
   */
  client_token?: string | null;
  /** Where it came from: a file path, `stdin` or `socket:<peer>`. */
  source: string;
}
