import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataDirFindings, inspectDataDir, snapshotFindings, type DataDirUsage } from './data-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'sealwatch-datadir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const usage = (extra: Partial<DataDirUsage> = {}): DataDirUsage => ({
  node: 'http://n1:8200',
  data_dir: '/var/lib/openbao',
  exists: true,
  vault_db_bytes: 16 << 20,
  raft_db_bytes: 16 << 20,
  vault_db_allocated_bytes: 4 << 20,
  raft_db_allocated_bytes: 8 << 20,
  free_bytes: 50 * 2 ** 30,
  total_bytes: 100 * 2 ** 30,
  free_pct: 50,
  ...extra,
});
const ids = (u: DataDirUsage) => dataDirFindings([u]).map((f) => [f.id, f.severity]);

describe('data directory findings', () => {
  it('a healthy directory is one info line', () => {
    expect(ids(usage())).toEqual([['data-dir-usage', 'info']]);
  });

  it('missing, or both databases freshly created (≤ 48 KiB on disk), is a wiped directory', () => {
    expect(ids(usage({ exists: false }))[0]).toEqual(['data-dir-wiped', 'high']);
    expect(ids(usage({ vault_db_allocated_bytes: 20_480, raft_db_allocated_bytes: 20_480 }))[0]).toEqual([
      'data-dir-wiped',
      'high',
    ]);
    expect(
      ids(
        usage({
          vault_db_bytes: null,
          raft_db_bytes: null,
          vault_db_allocated_bytes: null,
          raft_db_allocated_bytes: null,
        }),
      )[0],
    ).toEqual(['data-dir-wiped', 'high']);
    // A small but real FSM with a real log is not wiped.
    expect(ids(usage({ vault_db_allocated_bytes: 20_480 }))).toEqual([['data-dir-usage', 'info']]);
  });

  it('free space under 20% is medium, under 10% or 512 MiB is high', () => {
    expect(ids(usage({ free_pct: 15 }))[0]).toEqual(['disk-space-low', 'medium']);
    expect(ids(usage({ free_pct: 5 }))[0]).toEqual(['disk-space-low', 'high']);
    expect(ids(usage({ free_pct: 40, free_bytes: 100 << 20 }))[0]).toEqual(['disk-space-low', 'high']);
  });

  it('inspects a real directory: apparent and allocated sizes, free space; a missing one is not an error', () => {
    const data = join(dir, 'data');
    mkdirSync(join(data, 'raft'), { recursive: true });
    writeFileSync(join(data, 'vault.db'), Buffer.alloc(200_000, 1));
    writeFileSync(join(data, 'raft', 'raft.db'), Buffer.alloc(300_000, 1));
    const u = inspectDataDir('http://n1:8200', data);
    expect(u).toMatchObject({ exists: true, vault_db_bytes: 200_000, raft_db_bytes: 300_000 });
    expect(u.vault_db_allocated_bytes).toBeGreaterThan(48 * 1024);
    expect(u.free_pct).toBeGreaterThan(0);
    expect(inspectDataDir('http://n1:8200', join(dir, 'gone'))).toMatchObject({
      exists: false,
      free_bytes: null,
    });
  });
});

describe('snapshot findings', () => {
  const file = join(dir, 'bk.snap');
  writeFileSync(file, 'x');
  const record = (takenAt: Date, f = file) => ({
    id: 'bk-1',
    taken_at: takenAt.toISOString(),
    file: f,
    sha256: 'ab',
    bytes: 1,
  });
  const now = Date.parse('2026-01-02T00:00:00Z');

  it('none, gone, stale and fresh', () => {
    expect(snapshotFindings(undefined, 86_400_000, now)[0]).toMatchObject({
      id: 'snapshot-missing',
      severity: 'medium',
    });
    expect(
      snapshotFindings(record(new Date(now - 3_600_000), join(dir, 'nope')), 86_400_000, now)[0]!.id,
    ).toBe('snapshot-file-missing');
    expect(snapshotFindings(record(new Date(now - 30 * 3_600_000)), 86_400_000, now)[0]).toMatchObject({
      id: 'snapshot-stale',
      evidence: { age_hours: 30, max_age_hours: 24 },
    });
    expect(snapshotFindings(record(new Date(now - 3_600_000)), 86_400_000, now)[0]).toMatchObject({
      id: 'snapshot-age',
      severity: 'info',
      evidence: { age_hours: 1 },
    });
  });
});
