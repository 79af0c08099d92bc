import { existsSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../finding.js';
import { systemErrorCode } from '../../errors.js';

/** What a node's raft data directory holds and how much room its filesystem has left. */
export interface DataDirUsage {
  node: string;
  data_dir: string;
  exists: boolean;
  /** The FSM (every key) and the raft log; both exist on any node that has joined. */
  vault_db_bytes: number | null;
  raft_db_bytes: number | null;
  /** Bytes on disk: BoltDB preallocates sparse files, so the apparent size says nothing about content. */
  vault_db_allocated_bytes: number | null;
  raft_db_allocated_bytes: number | null;
  free_bytes: number | null;
  total_bytes: number | null;
  free_pct: number | null;
  error?: string;
}

/** Free space below which the node is in danger: raft stops accepting writes on a full disk. */
export const DISK_THRESHOLDS = { highPct: 10, mediumPct: 20, highBytes: 512 * 1024 * 1024 } as const;

/**
 * A freshly created BoltDB file occupies about 20 KiB (meta, freelist and root pages); a node that
 * has ever joined holds the keyring, mount tables and raft log, well over this. A node restarted on
 * a wiped directory recreates both files at once, so "missing" alone would not catch it.
 */
export const EMPTY_DB_BYTES = 48 * 1024;

const sizeOf = (file: string) => (existsSync(file) ? statSync(file).size : null);
const allocatedOf = (file: string) => (existsSync(file) ? statSync(file).blocks * 512 : null);
const looksEmpty = (allocated: number | null) => allocated === null || allocated <= EMPTY_DB_BYTES;

export function inspectDataDir(node: string, dataDir: string): DataDirUsage {
  const base: DataDirUsage = {
    node,
    data_dir: dataDir,
    exists: existsSync(dataDir),
    vault_db_bytes: null,
    raft_db_bytes: null,
    vault_db_allocated_bytes: null,
    raft_db_allocated_bytes: null,
    free_bytes: null,
    total_bytes: null,
    free_pct: null,
  };
  try {
    if (!base.exists) return base;
    const fs = statfsSync(dataDir);
    const free = fs.bavail * fs.bsize;
    const total = fs.blocks * fs.bsize;
    return {
      ...base,
      vault_db_bytes: sizeOf(join(dataDir, 'vault.db')),
      raft_db_bytes: sizeOf(join(dataDir, 'raft', 'raft.db')),
      vault_db_allocated_bytes: allocatedOf(join(dataDir, 'vault.db')),
      raft_db_allocated_bytes: allocatedOf(join(dataDir, 'raft', 'raft.db')),
      free_bytes: free,
      total_bytes: total,
      free_pct: total > 0 ? Math.round((free / total) * 1000) / 10 : null,
    };
  } catch (error) {
    return { ...base, error: systemErrorCode(error) ?? String(error) };
  }
}

/** Findings from the data directories: wiped, unreadable, short of space; usage as info. */
export function dataDirFindings(usages: readonly DataDirUsage[]): Finding[] {
  const findings: Finding[] = [];
  for (const u of usages) {
    const evidence = { ...u } as Record<string, unknown>;
    delete evidence['node'];
    if (u.error) {
      findings.push({
        id: 'data-dir-unreadable',
        severity: 'medium',
        symptom: `${u.node}: its data directory ${u.data_dir} cannot be inspected (${u.error})`,
        evidence,
        node: u.node,
        suggested_step:
          'run sealwatch where it can read the data directory, or drop --data-dir for that node',
      });
      continue;
    }
    if (!u.exists || (looksEmpty(u.vault_db_allocated_bytes) && looksEmpty(u.raft_db_allocated_bytes)))
      findings.push({
        id: 'data-dir-wiped',
        severity: 'high',
        symptom: `${u.node}: its raft data is gone (${
          !u.exists
            ? 'no data directory'
            : u.vault_db_bytes === null && u.raft_db_bytes === null
              ? 'vault.db and raft/raft.db missing'
              : 'vault.db and raft/raft.db are empty, freshly created'
        } in ${u.data_dir})`,
        evidence,
        node: u.node,
        suggested_step:
          'sealwatch runbook run storage --yes: snapshot first, then remove its raft peer, re-join it empty and unseal it',
      });
    if (u.free_pct !== null && u.free_bytes !== null) {
      const high = u.free_pct < DISK_THRESHOLDS.highPct || u.free_bytes < DISK_THRESHOLDS.highBytes;
      if (high || u.free_pct < DISK_THRESHOLDS.mediumPct)
        findings.push({
          id: 'disk-space-low',
          severity: high ? 'high' : 'medium',
          symptom: `${u.node}: ${u.free_pct}% free on the filesystem of ${u.data_dir}`,
          evidence,
          node: u.node,
          suggested_step:
            'free or grow the filesystem; a raft snapshot (sealwatch backup snapshot) compacts nothing by itself',
        });
    }
    findings.push({
      id: 'data-dir-usage',
      severity: 'info',
      symptom: `${u.node}: vault.db ${mib(u.vault_db_allocated_bytes)}, raft.db ${mib(u.raft_db_allocated_bytes)} on disk, ${u.free_pct ?? '?'}% free`,
      evidence,
      node: u.node,
      suggested_step: 'nothing to do',
    });
  }
  return findings;
}

const mib = (bytes: number | null) =>
  bytes === null ? 'missing' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Findings about the newest snapshot sealwatch recorded (`backup snapshot`, or this runbook). */
export function snapshotFindings(
  newest: { id: string; taken_at: string; file: string; sha256: string; bytes: number } | undefined,
  maxAgeMs: number,
  now = Date.now(),
): Finding[] {
  if (!newest)
    return [
      {
        id: 'snapshot-missing',
        severity: 'medium',
        symptom: 'no raft snapshot has been recorded: there is nothing to restore from',
        evidence: { max_age_hours: maxAgeMs / 3_600_000 },
        suggested_step:
          'sealwatch backup snapshot (the storage runbook takes one before it changes anything)',
      },
    ];
  const ageMs = now - Date.parse(newest.taken_at);
  const evidence = {
    backup_id: newest.id,
    taken_at: newest.taken_at,
    age_hours: Math.round((ageMs / 3_600_000) * 10) / 10,
    max_age_hours: maxAgeMs / 3_600_000,
    file: newest.file,
    bytes: newest.bytes,
    sha256: newest.sha256,
  };
  if (!existsSync(newest.file))
    return [
      {
        id: 'snapshot-file-missing',
        severity: 'medium',
        symptom: `the newest snapshot ${newest.id} is recorded but its file ${newest.file} is gone`,
        evidence,
        suggested_step: 'sealwatch backup snapshot, and keep snapshots where they survive the host',
      },
    ];
  if (ageMs > maxAgeMs)
    return [
      {
        id: 'snapshot-stale',
        severity: 'medium',
        symptom: `the newest snapshot is ${evidence.age_hours} h old (limit ${evidence.max_age_hours} h)`,
        evidence,
        suggested_step: 'sealwatch backup snapshot (and schedule it)',
      },
    ];
  return [
    {
      id: 'snapshot-age',
      severity: 'info',
      symptom: `newest snapshot ${newest.id}, ${evidence.age_hours} h old`,
      evidence,
      suggested_step: 'nothing to do',
    },
  ];
}
