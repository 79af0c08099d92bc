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
    await store.db
      .insertInto('audit_events')
      .values(rows.slice(start, start + 500))
      .execute();
}

/** Audit time `minutes` after 2026-01-01T12:00Z, as ingestion stores it. */
export function at(minutes: number): string {
  return new Date(Date.UTC(2026, 0, 1, 12, 0, 0) + minutes * 60_000).toISOString().replace(/Z$/, '000000Z');
}

export interface SyntheticDay {
  /** First audit time of the generated day. */
  start: Date;
  /** Tenants the planted attacker read (not counting the excluded test tenant). */
  attackerTenants: string[];
  events: number;
}

/**
 * A busy day on SQLite, written through the raw handle for speed: `events` rows (request and
 * response per call) over 24 hours from ~1000 application tokens on 40 addresses reading 1000
 * tenants' secrets, 0.5 % failures, some root-token administration, plus one attacker who reads
 * 25 tenants and probes more from a new address. An hour of history precedes the day.
 */
export function generateDay(
  store: Store,
  options: { events: number; start?: Date; seed?: number },
): SyntheticDay {
  const handle = store.sqlite;
  if (!handle) throw new Error('generateDay needs a SQLite store');
  const start = options.start ?? new Date(Date.UTC(2026, 0, 1));
  let seed = options.seed ?? 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const kinds = ['profile', 'ssh', 'smtp', 'dkim', 'database'];
  const insert = handle.prepare(
    `INSERT INTO audit_events (event_key, time, type, request_id, operation, path, mount_point, mount_type, namespace,
      remote_address, remote_port, accessor, accessor_hmac, display_name, policies, entity_id, token_type, metadata,
      error, wrap_info, tenant, hmac_values, source, issued_token_ttl)
     VALUES (?, ?, ?, ?, ?, ?, 'secret/', 'kv', 'root', ?, 1234, ?, 0, ?, ?, NULL, 'service', NULL, ?, NULL, NULL, ?, 'generated', ?)`,
  );
  const dayMs = 86_400_000;
  const calls = Math.floor(options.events / 2);
  const auditTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000000Z');
  let n = 0;
  const call = (c: {
    ms: number;
    operation: string;
    path: string;
    address: string;
    accessor: string | null;
    name: string | null;
    policies: string;
    error?: string | null;
    ttl?: number | null;
  }) => {
    n++;
    const id = `gen-${n}`;
    const time = auditTime(c.ms);
    const hmac = `hmac-sha256:${((n * 2654435761) % 4294967296).toString(16).padStart(8, '0')}`;
    insert.run(
      `${id}:request`,
      time,
      'request',
      id,
      c.operation,
      c.path,
      c.address,
      c.accessor,
      c.name,
      c.policies,
      null,
      hmac,
      null,
    );
    insert.run(
      `${id}:response`,
      time,
      'response',
      id,
      c.operation,
      c.path,
      c.address,
      c.accessor,
      c.name,
      c.policies,
      c.error ?? null,
      hmac,
      c.ttl ?? null,
    );
  };
  const appPolicies = JSON.stringify(['default', 'mailer']);
  const attackerTenants = Array.from({ length: 25 }, (_, i) => `tenant-${String(900 + i).padStart(4, '0')}`);
  handle.transaction(() => {
    for (let i = 0; i < 20_000; i++)
      call({
        ms: start.getTime() - 3_600_000 + (i / 20_000) * 3_600_000,
        operation: 'read',
        path: `secret/data/tenants/tenant-${String(Math.floor(random() * 1000)).padStart(4, '0')}/smtp`,
        address: `10.0.0.${Math.floor(random() * 40)}`,
        accessor: `hist-${Math.floor(random() * 40)}`,
        name: 'approle',
        policies: appPolicies,
      });
    for (let i = 0; i < calls; i++) {
      const ms = start.getTime() + (i / calls) * dayMs;
      const instance = Math.floor(random() * 40);
      // Each instance logs in every hour: a new accessor per instance per hour.
      const accessor = `app-${instance}-${Math.floor((i / calls) * 24)}`;
      const roll = random();
      if (roll < 0.0002)
        call({
          ms,
          operation: 'update',
          path: 'sys/policies/acl/ops',
          address: '10.1.0.1',
          accessor: 'root-acc',
          name: 'root',
          policies: '["root"]',
        });
      else
        call({
          ms,
          operation: 'read',
          path: `secret/data/tenants/tenant-${String(Math.floor(random() * 1000)).padStart(4, '0')}/${pick(kinds)}`,
          address: `10.0.0.${instance}`,
          accessor,
          name: 'approle',
          policies: appPolicies,
          // Applications fail now and then for dull reasons; one misconfigured instance is also refused.
          error:
            roll > 0.995
              ? instance === 7 && roll > 0.9995
                ? '1 error occurred:\n\t* permission denied\n\n'
                : 'no handler for route'
              : null,
        });
    }
    const attackStart = start.getTime() + dayMs / 2;
    attackerTenants.forEach((tenant, i) =>
      call({
        ms: attackStart + i * 1000,
        operation: 'read',
        path: `secret/data/tenants/${tenant}/smtp`,
        address: '203.0.113.9',
        accessor: 'evil',
        name: 'approle',
        policies: appPolicies,
      }),
    );
    call({
      ms: attackStart + 30_000,
      operation: 'read',
      path: 'secret/data/tenants/test-tenant-id/smtp',
      address: '203.0.113.9',
      accessor: 'evil',
      name: 'approle',
      policies: appPolicies,
    });
    for (let i = 0; i < 10; i++)
      call({
        ms: attackStart + 40_000 + i * 1000,
        operation: 'read',
        path: `secret/data/tenants/tenant-0${100 + i}/ssh`,
        address: '203.0.113.9',
        accessor: 'evil',
        name: 'approle',
        policies: appPolicies,
        error: '1 error occurred:\n\t* permission denied\n\n',
      });
  })();
  return { start, attackerTenants, events: n * 2 };
}
