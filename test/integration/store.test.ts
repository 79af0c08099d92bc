import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/store/audit-event.js';
import type { AlertRecord } from '../../src/store/repositories/alerts.repository.js';
import { Store, StoreError } from '../../src/store/store.js';
import { type TestPostgres } from '../harness/postgres.js';
import { storeBackends } from '../harness/store-backends.js';

/** One storage suite, run against SQLite and a real PostgreSQL server. */
const backends = storeBackends('sealwatch-store', { nested: true });

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
        key_shares: 5,
        key_threshold: 3,
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
        key_shares: 1,
        key_threshold: 1,
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
        key_shares: null,
        key_threshold: null,
      },
    ]);
    const history = await store.observations.history(a);
    expect(history.map((h) => h.sealed)).toEqual([true, false]);
    expect(history[0]).toMatchObject({ reachable: true, is_leader: false, initialized: true });
    expect(await store.observations.lastUnsealedAt(a)).toBe('2026-01-01T00:00:00.000Z');
    const other = await store.observations.history('http://other');
    expect(other[0]).toMatchObject({ reachable: false, sealed: null, error: 'connection refused' });
    expect(await store.observations.latestShares([a, 'http://other'])).toEqual({
      address: a,
      observed_at: '2026-01-01T00:01:00.000Z',
      shares: 1,
      threshold: 1,
    });
    expect(await store.observations.latestShares(['http://other'])).toBeUndefined();
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

describe.each(backends)('login attempts on $name', ({ open }) => {
  let cleanup: () => Promise<void>;
  let store: Store;

  beforeAll(async () => {
    let url: string;
    ({ url, cleanup } = await open());
    store = await Store.open(url);
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('tells logins that issued no token from those that did, by mount and metadata', async () => {
    expect(await store.auditLogins.hasEvents()).toBe(false);
    const login = (request_id: string, time: string, issued: number | null, error: string | null = null) =>
      auditEvent({
        request_id,
        time,
        operation: 'update',
        path: 'auth/approle/login',
        mount_point: 'auth/approle/',
        mount_type: 'approle',
        tenant: null,
        error,
        issued_token_ttl: issued,
        hmac_values: `hmac-sha256:${request_id}`,
      });
    await store.auditEvents.insertBatch([
      login('l1', '2026-01-01T10:00:00.000000000Z', null, 'invalid credentials'),
      login('l2', '2026-01-01T10:01:00.000000000Z', null),
      login('l3', '2026-01-01T10:02:00.000000000Z', 3600),
      login('l4', '2026-01-01T10:03:00.000000000Z', 3600),
      login('old', '2025-12-01T10:00:00.000000000Z', null),
      auditEvent({ request_id: 'not-a-login', time: '2026-01-01T10:00:00.000000000Z' }),
    ]);
    expect(await store.auditLogins.hasEvents()).toBe(true);
    const failed = await store.auditLogins.failed('2026-01-01T00:00:00.000Z');
    expect(failed.map((f) => [f.hmac_values, f.error, f.mount_point])).toEqual([
      ['hmac-sha256:l1', 'invalid credentials', 'auth/approle/'],
      ['hmac-sha256:l2', null, 'auth/approle/'],
    ]);
    expect(await store.auditLogins.succeeded('2026-01-01T00:00:00.000Z')).toEqual([
      {
        mount_point: 'auth/approle/',
        metadata: { role_name: 'mailer' },
        count: 2,
        last: expect.stringMatching(/^2026-01-01T10:03/),
      },
    ]);
  });
});

describe('a new SQLite store opened by several sealwatch instances at once', () => {
  it('migrates once and every instance opens it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealwatch-store-race-'));
    const file = join(dir, 'shared.db');
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => Store.open(file)));
      await stores[0]!.rotations.listRuns();
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('store errors', () => {
  it('names the store and hides the password when PostgreSQL cannot be reached', async () => {
    const error = await Store.open('postgres://user:hunter2@127.0.0.1:1/db').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain('127.0.0.1:1');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('fails at once, naming the path, where a directory cannot be made (under /proc)', async () => {
    const error = await Store.open('/proc/no/such/dir/x.db').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/\/proc\/no\/such\/dir\/x\.db cannot be opened: ENOENT/);
  });

  it('names the file when SQLite cannot open it', async () => {
    // A regular file where a directory should be: ENOTDIR, for root as for anyone.
    const dir = mkdtempSync(join(tmpdir(), 'sealwatch-store-bad-'));
    writeFileSync(join(dir, 'blocker'), '');
    const bad = join(dir, 'blocker', 'x.db');
    const error = await Store.open(bad).catch((e: unknown) => e);
    rmSync(dir, { recursive: true, force: true });
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain(bad);
  });
});

export type { TestPostgres };

describe.each(backends)('incident journal on $name', ({ open }) => {
  let cleanup: () => Promise<void>;
  let store: Store;
  const steps = [
    { step_id: 'contain', title: 'Contain', target_seconds: 300, needs_approval: true },
    { step_id: 'assess', title: 'Assess', target_seconds: 900, needs_approval: false },
  ];

  beforeAll(async () => {
    let url: string;
    ({ url, cleanup } = await open());
    store = await Store.open(url);
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('creates an incident with pending steps and a declared event, and lists newest first', async () => {
    const base = { type: 'breach', severity: 'critical', declared_by: 'alice', state: 'declared' as const };
    await store.incidents.create(
      { ...base, id: 'inc-1', created_at: '2026-01-01T00:00:00.000Z', options: { containment: 'lockdown' } },
      steps,
    );
    await store.incidents.create(
      { ...base, id: 'inc-2', created_at: '2026-01-02T00:00:00.000Z', options: {} },
      steps,
    );
    expect((await store.incidents.list()).map((i) => i.id)).toEqual(['inc-2', 'inc-1']);
    expect(await store.incidents.get('inc-1')).toMatchObject({
      type: 'breach',
      state: 'declared',
      options: { containment: 'lockdown' },
      completed_at: null,
      owner: null,
    });
    const rows = await store.incidents.steps('inc-1');
    expect(rows.map((s) => [s.step_id, s.position, s.status, s.needs_approval, s.attempts])).toEqual([
      ['contain', 0, 'pending', true, 0],
      ['assess', 1, 'pending', false, 0],
    ]);
    expect((await store.incidents.events('inc-1')).map((e) => e.event)).toEqual(['declared']);
    await expect(
      store.incidents.create(
        { ...base, id: 'inc-1', created_at: '2026-01-03T00:00:00.000Z', options: {} },
        steps,
      ),
    ).rejects.toThrow();
  });

  it('journals step changes with their event, JSON and fractional seconds intact', async () => {
    await store.incidents.updateStep(
      'inc-1',
      'contain',
      {
        status: 'running',
        started_at: '2026-01-01T00:00:01.000Z',
        attempt_started_at: '2026-01-01T00:00:01.000Z',
        attempts: 1,
      },
      { event: 'step_started', details: { attempt: 1 } },
    );
    await store.incidents.updateStep(
      'inc-1',
      'contain',
      {
        status: 'done',
        ended_at: '2026-01-01T00:00:05.250Z',
        measured_seconds: 4.25,
        evidence: { tokens_revoked: 312, mounts: ['approle/'] },
        verify_evidence: { refused: true },
        outputs: { accessor_count: 3 },
      },
      { event: 'step_done' },
    );
    const [contain] = await store.incidents.steps('inc-1');
    expect(contain).toMatchObject({
      status: 'done',
      attempts: 1,
      measured_seconds: 4.25,
      evidence: { tokens_revoked: 312, mounts: ['approle/'] },
      verify_evidence: { refused: true },
      outputs: { accessor_count: 3 },
      error: null,
    });
    const events = await store.incidents.events('inc-1');
    expect(events.map((e) => [e.step_id, e.event])).toEqual([
      [null, 'declared'],
      ['contain', 'step_started'],
      ['contain', 'step_done'],
    ]);
    expect(events[1]!.details).toEqual({ attempt: 1 });
  });

  it('finds the newest unfinished incident and marks completion', async () => {
    expect((await store.incidents.latestUnfinished())?.id).toBe('inc-2');
    await store.incidents.update(
      'inc-2',
      { state: 'completed', completed_at: '2026-01-02T01:00:00.000Z' },
      { event: 'completed' },
    );
    expect((await store.incidents.latestUnfinished())?.id).toBe('inc-1');
    expect(await store.incidents.get('inc-2')).toMatchObject({
      state: 'completed',
      completed_at: '2026-01-02T01:00:00.000Z',
    });
  });

  it('claims an incident for one process only (compare-and-set on the owner)', async () => {
    expect(await store.incidents.claim('inc-1', 'host:1', null)).toBe(true);
    expect(await store.incidents.claim('inc-1', 'host:2', null)).toBe(false);
    expect(await store.incidents.claim('inc-1', 'host:2', 'host:9')).toBe(false);
    expect(await store.incidents.claim('inc-1', 'host:2', 'host:1')).toBe(true);
    expect((await store.incidents.get('inc-1'))?.owner).toBe('host:2');
    await store.incidents.update('inc-1', { owner: null });
  });

  it('syncs steps to a changed playbook without losing what was journalled', async () => {
    await store.incidents.syncSteps('inc-1', [
      { step_id: 'declare', title: 'Declare', target_seconds: 60, needs_approval: false },
      ...steps,
    ]);
    const rows = await store.incidents.steps('inc-1');
    expect(rows.map((s) => [s.step_id, s.position, s.status])).toEqual([
      ['declare', 0, 'pending'],
      ['contain', 1, 'done'],
      ['assess', 2, 'pending'],
    ]);
    expect(rows[1]!.evidence).toEqual({ tokens_revoked: 312, mounts: ['approle/'] });
  });
});

describe.each(backends)('backup records on $name', ({ open }) => {
  let cleanup: () => Promise<void>;
  let store: Store;

  beforeAll(async () => {
    const opened = await open();
    cleanup = opened.cleanup;
    store = await Store.open(opened.url);
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  const backup = (id: string, takenAt: string, sha256: string) => ({
    id,
    taken_at: takenAt,
    file: `/backups/${id}.snap`,
    // Past 2^31: PostgreSQL keeps it as bigint, both read it back as a number.
    bytes: 3_000_000_000,
    sha256,
    cluster_name: 'vault-cluster-1',
    cluster_id: 'c-1',
    leader_address: 'http://127.0.0.1:8200',
    server_flavor: 'openbao',
    server_version: '2.7.2',
    key_shares: 5,
    key_threshold: 3,
    baseline: {
      policies: 4,
      auth_mounts: 2,
      secret_mounts: 3,
      kv_mounts: ['secret'],
      kv_sample: [
        {
          mount: 'secret',
          path: 'tenants/a/smtp',
          version: 2,
          created_time: '2026-01-01T00:00:00Z',
          updated_time: '2026-01-01T00:00:00Z',
        },
      ],
    },
  });
  const verification = (sha256: string, ok: boolean, finishedAt: string) => ({
    backup_id: null,
    file: '/tmp/x.snap',
    sha256,
    started_at: finishedAt,
    finished_at: finishedAt,
    ok,
    checks: [{ id: 'unseal', ok, detail: ok ? 'unsealed' : 'still sealed' }],
    seconds: { total: 1.5 },
    error: ok ? null : 'still sealed',
  });

  it('records snapshots and finds them by checksum, newest first', async () => {
    await store.backups.record(backup('b-old', '2026-01-01T00:00:00.000Z', 'a'.repeat(64)));
    await store.backups.record(backup('b-new', '2026-01-02T00:00:00.000Z', 'b'.repeat(64)));
    await store.backups.record(backup('b-newest', '2026-01-03T00:00:00.000Z', 'c'.repeat(64)));
    const found = await store.backups.findBySha256('b'.repeat(64));
    expect(found).toEqual(backup('b-new', '2026-01-02T00:00:00.000Z', 'b'.repeat(64)));
    expect((await store.backups.list()).map((b) => b.id)).toEqual(['b-newest', 'b-new', 'b-old']);
    expect(await store.backups.findBySha256('d'.repeat(64))).toBeUndefined();
    expect((await store.backups.findByFile('/backups/b-old.snap'))?.sha256).toBe('a'.repeat(64));
    expect(await store.backups.findByFile('/backups/none.snap')).toBeUndefined();
  });

  it('answers the newest snapshot whose latest drill passed', async () => {
    await store.backups.recordVerification(verification('a'.repeat(64), true, '2026-01-04T00:00:00.000Z'));
    await store.backups.recordVerification(verification('b'.repeat(64), true, '2026-01-04T00:00:00.000Z'));
    // The newest snapshot was verified once, then failed its latest drill: not verified.
    await store.backups.recordVerification(verification('c'.repeat(64), true, '2026-01-04T00:00:00.000Z'));
    await store.backups.recordVerification(verification('c'.repeat(64), false, '2026-01-05T00:00:00.000Z'));
    const verified = await store.backups.verifiedNewestFirst();
    expect(verified.map((v) => v.backup.id)).toEqual(['b-new', 'b-old']);
    expect(verified[0]!.verification).toMatchObject({ ok: true, seconds: { total: 1.5 } });
    const drills = await store.backups.verificationsOf('c'.repeat(64));
    expect(drills.map((d) => d.ok)).toEqual([false, true]);
    expect(await store.backups.verifiedNewestFirst({ clusterId: 'other' })).toEqual([]);
  });
  it('keeps alerts, silences and the notice outbox, a cycle and its notices in one transaction', async () => {
    const alert: AlertRecord = {
      fingerprint: 'a1b2c3d4e5f60718',
      rule: 'node-sealed',
      severity: 'critical',
      state: 'firing',
      labels: { node: 'http://127.0.0.1:8200' },
      summary: 'http://127.0.0.1:8200 is sealed',
      runbook: 'sealed',
      started_at: '2026-12-06T03:00:00.000Z',
      fired_at: '2026-12-06T03:00:00.000Z',
      resolved_at: null,
      last_seen_at: '2026-12-06T03:00:00.000Z',
      last_notified_at: '2026-12-06T03:00:00.000Z',
      notified_state: 'firing',
      acked_by: null,
      acked_at: null,
      silenced_by: null,
    };
    await store.alerts.commitCycle(
      [alert],
      [{ fingerprint: alert.fingerprint, channel: 'hook', kind: 'firing', payload: { rule: alert.rule } }],
    );
    expect(await store.alerts.active()).toEqual([alert]);
    expect(await store.alerts.find('a1b2')).toEqual(alert);
    expect(await store.alerts.find('zz')).toBeUndefined();
    // Upsert by fingerprint: the resolved row replaces the firing one.
    await store.alerts.commitCycle(
      [{ ...alert, state: 'resolved', resolved_at: '2026-12-06T03:05:00.000Z' }],
      [],
    );
    expect(await store.alerts.active()).toEqual([]);
    expect((await store.alerts.list({ includeResolved: true }))[0]).toMatchObject({ state: 'resolved' });
    await store.alerts.ack(alert.fingerprint, 'alice');
    expect((await store.alerts.find(alert.fingerprint))?.acked_by).toBe('alice');

    const [queued] = await store.alerts.dueNotices('2026-12-31T00:00:00.000Z');
    expect(queued).toMatchObject({
      channel: 'hook',
      kind: 'firing',
      state: 'queued',
      attempts: 0,
      payload: { rule: 'node-sealed' },
    });
    await store.alerts.noticeFailed(queued!.id, 1, 'HTTP 500', '2027-01-01T00:00:00.000Z');
    expect(await store.alerts.dueNotices('2026-12-31T00:00:00.000Z')).toEqual([]);
    await store.alerts.noticeSent(queued!.id, 2);
    expect((await store.alerts.noticesOf(alert.fingerprint))[0]).toMatchObject({
      state: 'sent',
      attempts: 2,
      last_error: null,
    });

    const now = new Date().toISOString();
    const silence = await store.alerts.addSilence({
      matchers: { rule: 'node-sealed' },
      author: 'alice',
      comment: 'maintenance',
      ends_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect((await store.alerts.activeSilences(now)).map((s) => s.id)).toContain(silence.id);
    expect(await store.alerts.endSilence(silence.id)).toBe(true);
    expect(await store.alerts.endSilence('no-such')).toBe(false);
    expect(
      (await store.alerts.activeSilences(new Date(Date.now() + 1).toISOString())).map((s) => s.id),
    ).not.toContain(silence.id);
  });
});
