import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestVerifiedSnapshot } from '../../src/backup/newest-verified.js';
import type { BackupRecord } from '../../src/store/repositories/backup.repository.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { ROOT, runCli } from '../harness/cli.js';

/** Throwaway restore servers on this machine: their temp dirs and their processes. */
function throwaways(): { dirs: string[]; processes: string[] } {
  const dirs = readdirSync(tmpdir()).filter((d) => d.startsWith('sealwatch-restore-'));
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes('sealwatch-restore-')) processes.push(`${pid}: ${cmd}`);
    } catch {
      // gone between the listing and the read
    }
  }
  return { dirs, processes };
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('backup snapshot and verify against a real OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let work: string;
  let storeFile: string;
  let snapshotFile: string;
  let before: ReturnType<typeof throwaways>;
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  const cli = (args: string[], input?: string) =>
    runCli(['--config', lab.configFile, '--store', storeFile, ...args], {
      ...(input !== undefined ? { input } : {}),
      timeoutMs: 180_000,
    });

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 3 });
    vault = lab.client();
    work = mkdtempSync(join(tmpdir(), 'sealwatch-backup-test-'));
    storeFile = join(work, 'store', 'sealwatch.db');
    snapshotFile = join(work, 'cluster.snap');
    // Version 2 carries the canary; the snapshot must bring back exactly that version.
    await vault.kv('secret').write('backup-canary', { value: 'first' });
    await vault.kv('secret').write('backup-canary', { value: canary });
    before = throwaways();
  });
  afterAll(async () => {
    await lab?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('backup snapshot streams a 0600 file and records its sha256, source and a value-free baseline', async () => {
    const res = await cli(['backup', 'snapshot', '--out', snapshotFile, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const record = res.json<BackupRecord>();
    expect(statSync(snapshotFile).mode & 0o777).toBe(0o600);
    expect(record.sha256).toBe(sha256(snapshotFile));
    expect(record.bytes).toBe(statSync(snapshotFile).size);
    expect(record).toMatchObject({
      file: snapshotFile,
      server_flavor: 'openbao',
      leader_address: lab.lab().nodes[0]!.address,
      key_shares: 5,
      key_threshold: 3,
    });
    expect(record.cluster_id).toMatch(/\S/);
    const policies = await vault.listPolicies();
    expect(record.baseline.policies).toBe(policies.length);
    expect(record.baseline.secret_mounts).toBe(Object.keys(await vault.listMounts()).length);
    expect(record.baseline.auth_mounts).toBe(Object.keys(await vault.listAuthMounts()).length);
    expect(record.baseline.kv_sample.length).toBeGreaterThan(5);
    expect(record.baseline.kv_sample.length).toBeLessThanOrEqual(20);
    expect(record.baseline.kv_sample).toContainEqual(
      expect.objectContaining({ mount: 'secret', path: 'backup-canary', version: 2 }),
    );

    const store = await Store.open(storeFile);
    try {
      expect(await store.backups.get(record.id)).toEqual(record);
    } finally {
      await store.close();
    }
    // No secret value (nor a hash of one) in the store: versions and times only.
    const db = readFileSync(storeFile);
    expect(db.includes(canary)).toBe(false);
    expect(db.includes(createHash('sha256').update(canary).digest('hex'))).toBe(false);
  });

  it('backup verify restores it into a throwaway server, unseals with the lab shares and reads the recorded versions', async () => {
    // Destroyed on the live cluster after the snapshot: only the restored snapshot still has it.
    await vault.kv('secret').destroy('backup-canary', [2]);
    expect(await vault.kv('secret').read('backup-canary', 2)).toBeUndefined();

    const res = await cli(['backup', 'verify', snapshotFile, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const report = res.json<{
      file: string;
      sha256: string;
      ok: boolean;
      backup_id: string | null;
      checks: { id: string; ok: boolean; detail: string }[];
      seconds: Record<string, number>;
    }>();
    expect(report.ok).toBe(true);
    expect(report.sha256).toBe(sha256(snapshotFile));
    expect(report.backup_id).toMatch(/^bk-/);
    expect(report.checks.map((c) => c.id)).toEqual([
      'archive',
      'store_record',
      'unseal',
      'root_token',
      'policies',
      'auth_mounts',
      'secret_mounts',
      'kv_sample',
    ]);
    expect(report.checks.every((c) => c.ok)).toBe(true);
    expect(report.checks.find((c) => c.id === 'kv_sample')!.detail).toMatch(/read at the recorded version/);
    for (const phase of ['offline_check', 'start', 'restore', 'unseal', 'root_token', 'checks', 'stop'])
      expect(report.seconds[phase]).toBeGreaterThanOrEqual(0);
    expect(report.seconds['total']).toBeGreaterThan(0);
    // The throwaway server is gone, with its directory.
    expect(throwaways()).toEqual(before);

    const store = await Store.open(storeFile);
    try {
      const newest = await newestVerifiedSnapshot({ store }, { checkArchive: true });
      expect(newest?.backup.id).toBe(report.backup_id);
      expect(newest?.verification.ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('the same drill with the shares on stdin', async () => {
    const shares = lab.lab().unseal_keys.slice(0, 3).join('\n') + '\n';
    const res = await cli(['backup', 'verify', snapshotFile, '--unseal-keys-stdin'], shares);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^verified: /);
    expect(res.stdout).toMatch(/kv_sample\s+ok/);
    expect(throwaways()).toEqual(before);
  });

  it('refuses a truncated snapshot and a random file with one line and exit 1, before any server starts', async () => {
    const truncated = join(work, 'truncated.snap');
    writeFileSync(
      truncated,
      readFileSync(snapshotFile).subarray(0, Math.floor(statSync(snapshotFile).size / 2)),
    );
    const random = join(work, 'random.snap');
    writeFileSync(random, randomBytes(64 * 1024));
    const cases: [string, RegExp][] = [
      [truncated, /truncated/],
      [random, /not a raft snapshot/],
    ];
    for (const [file, reason] of cases) {
      const res = await cli(['backup', 'verify', file]);
      expect(res.code).toBe(1);
      const lines = res.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(file);
      expect(lines[0]).toMatch(reason);
      expect(res.stdout).toBe('');
      // The one line is the error: no "starting a throwaway OpenBao server" progress before it.
      expect(res.stderr).not.toMatch(/starting a throwaway/);
      expect(throwaways()).toEqual(before);
    }
  });

  it('wrong key shares: a clear error, the throwaway server stopped and removed; too few: refused before it starts', async () => {
    const wrong = join(work, 'wrong-shares.txt');
    writeFileSync(wrong, Array.from({ length: 3 }, () => randomBytes(33).toString('hex')).join('\n') + '\n');
    const res = await cli(['backup', 'verify', snapshotFile, '--unseal-keys-file', wrong]);
    expect(res.code).toBe(1);
    const lines = res.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('sealwatch:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(snapshotFile);
    expect(lines[0]).toMatch(/key share/);
    expect(throwaways()).toEqual(before);

    const few = join(work, 'few-shares.txt');
    writeFileSync(few, lab.lab().unseal_keys.slice(0, 2).join('\n') + '\n');
    const short = await cli(['backup', 'verify', snapshotFile, '--unseal-keys-file', few]);
    expect(short.code).toBe(1);
    expect(short.stderr.trim().split('\n')).toHaveLength(1);
    expect(short.stderr).toMatch(
      /2 key share\(s\) given, the snapshot's cluster needs 3: nothing was started/,
    );
    expect(throwaways()).toEqual(before);

    // Neither says anything about the snapshot itself: it is still the newest verified one.
    const store = await Store.open(storeFile);
    try {
      expect((await newestVerifiedSnapshot({ store }))?.backup.file).toBe(snapshotFile);
    } finally {
      await store.close();
    }
  });

  it('SIGINT during the restore stops the throwaway server and removes its directory', async () => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'dist', 'cli', 'main.js'),
        '--config',
        lab.configFile,
        '--store',
        storeFile,
        'backup',
        'verify',
        snapshotFile,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no restore started: ${stderr}`)), 60_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('restoring ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/interrupted: the throwaway server was stopped and its directory removed/);
    expect(throwaways()).toEqual(before);
  });

  it('refuses a valid snapshot at a recorded path whose sha256 is no longer the recorded one', async () => {
    // The same archive, compressed again: still a whole snapshot, but not the bytes that were taken.
    writeFileSync(snapshotFile, gzipSync(gunzipSync(readFileSync(snapshotFile)), { level: 1 }));
    const res = await cli(['backup', 'verify', snapshotFile]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/does not match the [0-9a-f]{64} recorded for backup bk-.*: the file changed/);
    expect(throwaways()).toEqual(before);
  });
});
