import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit-event.js';
import { Store, StoreError } from '../../src/store/store.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';

/** One storage suite, run against SQLite and a real PostgreSQL server. */
const backends: { name: string; open: () => Promise<{ url: string; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sealwatch-store-'));
      return {
        url: join(dir, 'nested', 'sealwatch.db'),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const pg = await startPostgres();
      return { url: pg.url, cleanup: () => pg.stop() };
    },
  },
];

describe.each(backends)('store on $name', ({ name, open }) => {
  let url: string;
  let cleanup: () => Promise<void>;
  let store: Store;

  beforeAll(async () => {
    ({ url, cleanup } = await open());
    store = await Store.open(url);
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('migrates to the latest schema and is idempotent on reopen', async () => {
    expect(store.dialect).toBe(name);
    const again = await Store.open(url);
    await again.close();
    const rows = await store.db
      .selectFrom('sealwatch_migrations' as never)
      .select('name' as never)
      .execute();
    expect(rows.length).toBeGreaterThanOrEqual(1);
  });

  it('records node observations and reads them back newest first', async () => {
    const a = 'http://127.0.0.1:8200';
    await store.observations.record([
      {
        observed_at: '2026-01-01T00:00:00.000Z',
        address: a,
        reachable: true,
        initialized: true,
        sealed: false,
        is_leader: true,
        version: '2.7.2',
        seal_type: 'shamir',
        error: null,
      },
      {
        observed_at: '2026-01-01T00:01:00.000Z',
        address: a,
        reachable: true,
        initialized: true,
        sealed: true,
        is_leader: false,
        version: '2.7.2',
        seal_type: 'shamir',
        error: null,
      },
      {
        observed_at: '2026-01-01T00:02:00.000Z',
        address: 'http://other',
        reachable: false,
        initialized: null,
        sealed: null,
        is_leader: false,
        version: null,
        seal_type: null,
        error: 'connection refused',
      },
    ]);
    const history = await store.observations.history(a);
    expect(history.map((h) => h.sealed)).toEqual([true, false]);
    expect(history[0]).toMatchObject({ reachable: true, is_leader: false, initialized: true });
    expect(await store.observations.lastUnsealedAt(a)).toBe('2026-01-01T00:00:00.000Z');
    const other = await store.observations.history('http://other');
    expect(other[0]).toMatchObject({ reachable: false, sealed: null, error: 'connection refused' });
  });
});

function auditEvent(overrides: Partial<AuditEvent> & { request_id: string }): AuditEvent {
  const type = overrides.type ?? 'response';
  return {
    event_key: `${overrides.request_id}:${type}`,
    time: '2026-01-01T00:00:00.000000000Z',
    type,
    operation: 'read',
    path: 'secret/data/tenants/acme/smtp',
    mount_point: 'secret/',
    mount_type: 'kv',
    namespace: 'root',
    remote_address: '10.0.0.1',
    remote_port: 50000,
    accessor: 'acc-mailer',
    accessor_hmac: false,
    display_name: 'approle',
    policies: ['default', 'mailer'],
    entity_id: null,
    token_type: 'service',
    metadata: { role_name: 'mailer' },
    error: null,
    wrap_info: null,
    tenant: 'acme',
    hmac_values: 'hmac-sha256:aa hmac-sha256:bb',
    issued_token_ttl: null,
    source: '/var/log/audit.log',
    ...overrides,
  };
}

describe.each(backends)('audit event store on $name', ({ open }) => {
  let cleanup: () => Promise<void>;
  let store: Store;

  beforeAll(async () => {
    let url: string;
    ({ url, cleanup } = await open());
    store = await Store.open(url);
    const result = await store.auditEvents.insertBatch([
      auditEvent({ request_id: 'r1', time: '2026-01-01T10:00:00.000000000Z' }),
      auditEvent({ request_id: 'r1', type: 'request', time: '2026-01-01T10:00:00.000000000Z' }),
      auditEvent({
        request_id: 'r2',
        time: '2026-01-01T11:00:00.000000000Z',
        path: 'secret/data/tenants/beta/dkim',
        tenant: 'beta',
        accessor: 'acc-ops',
        remote_address: '10.0.0.2',
      }),
      auditEvent({
        request_id: 'r3',
        time: '2026-01-01T12:00:00.000000000Z',
        operation: 'update',
        error: 'permission denied',
        path: 'sys/policies/acl/x',
        tenant: null,
      }),
      auditEvent({
        request_id: 'r4',
        time: '2026-01-01T13:00:00.000000000Z',
        path: 'Secret/data/tenants/acme/smtp',
        metadata: null,
        wrap_info: { ttl: 300, creation_path: 'x' },
        issued_token_ttl: 3600,
        accessor_hmac: true,
      }),
    ]);
    expect(result).toEqual({ inserted: 5, duplicates: 0 });
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('stores an event once however often it arrives, and counts the repeats', async () => {
    const again = await store.auditEvents.insertBatch([
      auditEvent({ request_id: 'r1' }),
      auditEvent({ request_id: 'r5', time: '2026-01-01T14:00:00.000000000Z' }),
      auditEvent({ request_id: 'r5', time: '2026-01-01T14:00:00.000000000Z' }),
    ]);
    expect(again).toEqual({ inserted: 1, duplicates: 2 });
    expect(await store.auditEvents.count()).toBe(6);
    expect(await store.auditEvents.insertBatch([])).toEqual({ inserted: 0, duplicates: 0 });
  });

  it('reads events back as they were written', async () => {
    const [r4] = await store.auditEvents.query({
      since: '2026-01-01T13:00:00.000000000Z',
      until: '2026-01-01T13:00:00.000000000Z',
    });
    expect(r4).toMatchObject({
      event_key: 'r4:response',
      metadata: null,
      wrap_info: { ttl: 300, creation_path: 'x' },
      issued_token_ttl: 3600,
      accessor_hmac: true,
      policies: ['default', 'mailer'],
      remote_port: 50000,
    });
    expect(r4!.id).toEqual(expect.any(Number));
    const [r1] = await store.auditEvents.query({ type: 'response', limit: 1 });
    expect(r1).toMatchObject({
      event_key: 'r1:response',
      metadata: { role_name: 'mailer' },
      accessor_hmac: false,
      issued_token_ttl: null,
    });
  });

  it('filters by time, path prefix, operation, accessor, address, tenant and errors', async () => {
    const keys = async (filter: Parameters<Store['auditEvents']['query']>[0]) =>
      (await store.auditEvents.query(filter)).map((e) => e.event_key);
    expect(await keys({ since: '2026-01-01T11:00:00Z', until: '2026-01-01T12:30:00Z' })).toEqual([
      'r2:response',
      'r3:response',
    ]);
    // Case-sensitive, and % / _ are not wildcards.
    // Same time: insertion order (r1's response was written first).
    expect(await keys({ pathPrefix: 'secret/data/tenants/' })).toEqual([
      'r1:response',
      'r1:request',
      'r2:response',
      'r5:response',
    ]);
    expect(await keys({ pathPrefix: 'secret/data/tenants/a' })).toEqual([
      'r1:response',
      'r1:request',
      'r5:response',
    ]);
    expect(await keys({ pathPrefix: 'secret/data/%' })).toEqual([]);
    expect(await keys({ operation: 'update' })).toEqual(['r3:response']);
    expect(await keys({ accessor: 'acc-ops' })).toEqual(['r2:response']);
    expect(await keys({ remoteAddress: '10.0.0.2' })).toEqual(['r2:response']);
    expect(await keys({ tenant: 'beta' })).toEqual(['r2:response']);
    expect(await keys({ errorsOnly: true })).toEqual(['r3:response']);
    expect(await keys({ tenant: 'acme', type: 'response', limit: 2 })).toEqual([
      'r1:response',
      'r4:response',
    ]);
  });

  it('keeps a checkpoint per source, saved alone or with a batch', async () => {
    expect(await store.auditEvents.getCheckpoint('/var/log/audit.log')).toBeUndefined();
    await store.auditEvents.setCheckpoint({
      source: '/var/log/audit.log',
      inode: '42',
      offset: 1000,
      line: 3,
    });
    expect(await store.auditEvents.getCheckpoint('/var/log/audit.log')).toEqual({
      source: '/var/log/audit.log',
      inode: '42',
      offset: 1000,
      line: 3,
    });
    const big = 2 ** 40;
    await store.auditEvents.insertBatch([auditEvent({ request_id: 'r6' })], {
      checkpoint: { source: '/var/log/audit.log', inode: '43', offset: big, line: 7 },
    });
    expect(await store.auditEvents.getCheckpoint('/var/log/audit.log')).toEqual({
      source: '/var/log/audit.log',
      inode: '43',
      offset: big,
      line: 7,
    });
    expect(await store.auditEvents.getCheckpoint('/other')).toBeUndefined();
  });
});

describe('store errors', () => {
  it('names the store and hides the password when PostgreSQL cannot be reached', async () => {
    const error = await Store.open('postgres://user:hunter2@127.0.0.1:1/db').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain('127.0.0.1:1');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('names the file when SQLite cannot open it', async () => {
    const error = await Store.open('/proc/no/such/dir/x.db').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain('/proc/no/such/dir/x.db');
  });
});

export type { TestPostgres };
