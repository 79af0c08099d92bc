import type { LiveEvent } from '../../assess/rule.js';
import type { AuditRowValues } from '../../store/audit-row.js';

/**
 * A stored row as the live evaluators read it. Policies are JSON text in the row: parsed only
 * when there are some ("[]" is most calls without a token, e.g. logins).
 */
export function liveEventOf(row: AuditRowValues): LiveEvent {
  const policies = row[14];
  return {
    id: null,
    time: row[1],
    type: row[2],
    request_id: row[3],
    operation: row[4],
    path: row[5],
    mount_point: row[6],
    mount_type: row[7],
    remote_address: row[9],
    accessor: row[11],
    display_name: row[13],
    policies: policies === '[]' ? [] : policiesOf(policies),
    error: row[18],
    tenant: row[20],
    issued_token_ttl: row[23],
    client_token: row[24],
  };
}

function policiesOf(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    // Written by toAuditRow as a JSON array: anything else names no policy.
    return [];
  }
}
