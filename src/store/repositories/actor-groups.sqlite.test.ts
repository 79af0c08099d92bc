import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRow, insertRows } from '../../../test/harness/audit-fixtures.js';
import { Store } from '../store.js';
import { actorGroupsSqlite } from './actor-groups.sqlite.js';

/** The seeking actor summary finds exactly the groups a GROUP BY over the index finds, NULLs included. */
describe('actorGroupsSqlite', () => {
  let dir: string;
  let store: Store;
  const at = (second: number) => `2026-03-01T00:00:${String(second).padStart(2, '0')}.000000000Z`;
  const window = { since: at(10), until: at(40) };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-actors-'));
    store = await Store.open(join(dir, 'store.db'));
    const addresses = [null, '10.0.0.1', '10.0.0.2', '192.0.2.7'];
    const names = [null, 'approle', 'token', 'userpass-alice'];
    const rows = [];
    for (let i = 0; i < 400; i++)
      rows.push(
        auditRow({
          accessor: `acc-${i % 5}`,
          remote_address: addresses[Math.floor(i / 5) % addresses.length]!,
          display_name: names[Math.floor(i / 20) % names.length]!,
          // 0..49 s: some groups have events only outside the window.
          time: at((i * 13) % 50),
        }),
      );
    // A group entirely before the window, and an accessor asked for that has no events at all.
    rows.push(auditRow({ accessor: 'acc-early', remote_address: '10.9.9.9', time: at(1) }));
    await insertRows(store, rows);
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches grouping every event of the window', () => {
    const asked = ['acc-0', 'acc-1', 'acc-2', 'acc-3', 'acc-4', 'acc-early', 'acc-none'];
    const key = (g: { accessor: string; remote_address: string | null; display_name: string | null }) =>
      JSON.stringify([g.accessor, g.remote_address, g.display_name]);
    const seeking = actorGroupsSqlite(store.sqlite!, window, asked).sort((a, b) =>
      key(a).localeCompare(key(b)),
    );
    const grouped = (
      store
        .sqlite!.prepare(
          `SELECT accessor, remote_address, display_name, min(time) AS first, max(time) AS last FROM audit_events
           WHERE accessor IN (SELECT value FROM json_each(?)) AND time >= ? AND time <= ?
           GROUP BY accessor, remote_address, display_name`,
        )
        .all(JSON.stringify(asked), window.since, window.until) as ReturnType<typeof actorGroupsSqlite>
    ).sort((a, b) => key(a).localeCompare(key(b)));
    expect(grouped.length).toBeGreaterThan(40);
    expect(grouped.some((g) => g.remote_address === null && g.display_name === null)).toBe(true);
    expect(seeking).toEqual(grouped);
  });
});
