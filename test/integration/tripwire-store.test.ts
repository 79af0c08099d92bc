import { describe, expect, it } from 'vitest';
import { mustParsePathTemplate, PathTemplateMatcher } from '../../src/config/path-template.js';
import { AuditSink } from '../../src/audit/audit-sink.js';
import { LAB_TENANT_TEMPLATES } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { AuditRowValues } from '../../src/store/audit-row.js';
import { storeBackends, suiteStore } from '../harness/store-backends.js';

const TOKEN = `hmac-sha256:${'c0ffee'.repeat(11)}`;

function line(id: string, time: string, accessor: string | null): string {
  return JSON.stringify({
    time,
    type: 'request',
    auth: accessor ? { accessor, display_name: 'approle', policies: ['default'] } : { token_type: 'default' },
    request: {
      id,
      operation: 'read',
      path: 'secret/data/x',
      client_token: TOKEN,
      remote_address: '10.0.0.1',
    },
    ...(accessor ? {} : { error: 'permission denied' }),
  });
}

/** What the tripwire and live detection need from the store, on SQLite and PostgreSQL (migration 0100). */
describe.each(storeBackends('sealwatch-tripwire'))('tripwire storage on $name', (backend) => {
  const store = suiteStore(backend, 120_000);

  it('hands back only the rows newly stored, and keeps the client-token HMAC key', async () => {
    const seen: AuditRowValues[] = [];
    const sink = new AuditSink(
      {
        store: store(),
        matcher: new PathTemplateMatcher(LAB_TENANT_TEMPLATES.map(mustParsePathTemplate)),
        logger: silentLogger(),
      },
      { onStoredRows: (rows) => seen.push(...rows) },
    );
    const lines = [
      line('a', '2026-12-06T01:00:00.000000000Z', 'acc-1'),
      line('b', '2026-12-06T02:00:00.000000000Z', null),
    ].map((text, i) => ({ text, number: i + 1, end: 0, tooLong: false }));
    sink.add(lines, 'socket:test');
    await sink.flush();
    sink.add(lines, 'file');
    await sink.flush();
    expect(seen.map((r) => r[0])).toEqual(['a:request', 'b:request']);
    expect(seen.map((r) => r[24])).toEqual([TOKEN.slice(12, 28), TOKEN.slice(12, 28)]);
  });

  it('records revoked accessors once, finds their tokens and the later tokenless calls', async () => {
    await store().revokedAccessors.record(['acc-1', 'acc-2'], 'inc-1', '2026-12-06T01:30:00.000000000Z');
    await store().revokedAccessors.record(['acc-1'], 'inc-2', '2026-12-06T03:00:00.000000000Z');
    const list = await store().revokedAccessors.list();
    expect(list.map((r) => [r.accessor, r.incident_id])).toEqual([
      ['acc-1', 'inc-1'],
      ['acc-2', 'inc-1'],
    ]);
    expect(await store().revokedAccessors.tokensOf(['acc-1', 'acc-2'])).toEqual([
      { accessor: 'acc-1', client_token: TOKEN.slice(12, 28) },
    ]);
    const calls = await store().revokedAccessors.candidates(
      { since: '2026-12-06T00:00:00.000000000Z', until: '2026-12-06T23:59:59.999999999Z' },
      '2026-12-06T01:30:00.000000000Z',
      ['acc-1', 'acc-2'],
      [TOKEN.slice(12, 28)],
    );
    expect(calls.map((c) => [c.request_id, c.accessor, c.client_token])).toEqual([
      ['b', null, TOKEN.slice(12, 28)],
    ]);
  });
});
