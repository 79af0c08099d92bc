import type { Insertable } from 'kysely';
import type { Store } from '../../src/store/store.js';
import type { AuditEventTable } from '../../src/store/schema.js';

export type AuditRow = Insertable<AuditEventTable>;

let sequence = 0;

/**
 * One audit_events row written straight through Kysely (not through ingestion): synthetic events
 * for assessment tests. Defaults: a successful KV v2 read of a tenant secret by the mailer app.
 */
export type AuditRowOverrides = Partial<Omit<AuditRow, 'policies'>> & { policies?: string[] };

export function auditRow(overrides: AuditRowOverrides = {}): AuditRow {
  sequence++;
  const type = overrides.type ?? 'response';
  const requestId = overrides.request_id ?? `req-${sequence}`;
  const { policies, ...rest } = overrides;
  return {
    event_key: `${requestId}:${type}:${sequence}`,
    time: '2026-01-01T12:00:00.000000000Z',
    type,
    request_id: requestId,
    operation: 'read',
    path: 'secret/data/tenants/tenant-0001/smtp',
    mount_point: 'secret/',
    mount_type: 'kv',
    namespace: 'root',
    remote_address: '10.0.0.1',
    remote_port: 50000,
    accessor: 'acc-mailer',
    accessor_hmac: 0,
    display_name: 'approle',
    entity_id: null,
    token_type: 'service',
    metadata: null,
    error: null,
    wrap_info: null,
    tenant: null,
    hmac_values: '',
    source: 'fixture',
    issued_token_ttl: null,
    ...rest,
    policies: JSON.stringify(policies ?? ['default', 'mailer']),
  };
}

/** A request and its response, as OpenBao writes every call. */
export function auditCall(overrides: AuditRowOverrides = {}): AuditRow[] {
  const request_id = overrides.request_id ?? `call-${++sequence}`;
  return [
    auditRow({ ...overrides, request_id, type: 'request' }),
    auditRow({ ...overrides, request_id, type: 'response' }),
  ];
}

export async function insertRows(store: Store, rows: readonly AuditRow[]): Promise<void> {
  for (let start = 0; start < rows.length; start += 500)
    await store.db.insertInto('audit_events').values(rows.slice(start, start + 500)).execute();
}

/** Audit time `minutes` after 2026-01-01T12:00Z, as ingestion stores it. */
export function at(minutes: number): string {
  return new Date(Date.UTC(2026, 0, 1, 12, 0, 0) + minutes * 60_000).toISOString().replace(/Z$/, '000000Z');
}
