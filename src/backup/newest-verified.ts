import { statSync } from 'node:fs';
import type { BackupRecord, BackupVerification } from '../store/repositories/backup.repository.js';
import type { Store } from '../store/store.js';
import { inspectSnapshotFile } from './snapshot-archive.js';

export interface VerifiedSnapshot {
  backup: BackupRecord;
  /** The latest drill of this snapshot, which passed. */
  verification: BackupVerification;
}

/**
 * The snapshot a cluster-failure recovery restores: the newest one recorded by `backup snapshot`
 * whose latest `backup verify` drill passed and whose file is still there, the same size. With
 * `checkArchive` the file is read again (sums and SHA-256 against the record) before it is trusted;
 * one that fails is passed over for the next older verified snapshot.
 */
export async function newestVerifiedSnapshot(
  deps: { store: Pick<Store, 'backups'> },
  options: { clusterId?: string; checkArchive?: boolean } = {},
): Promise<VerifiedSnapshot | undefined> {
  const candidates = await deps.store.backups.verifiedNewestFirst(
    options.clusterId ? { clusterId: options.clusterId } : {},
  );
  for (const candidate of candidates) {
    if (!sameSize(candidate.backup.file, candidate.backup.bytes)) continue;
    if (options.checkArchive) {
      // An archive that can no longer be read is not a verified snapshot: the next older one is tried.
      const archive = await inspectSnapshotFile(candidate.backup.file).catch(() => undefined);
      if (archive?.sha256 !== candidate.backup.sha256) continue;
    }
    return candidate;
  }
  return undefined;
}

function sameSize(file: string, bytes: number): boolean {
  try {
    return statSync(file).size === bytes;
  } catch {
    // A file that is gone or unreadable does not hold the verified snapshot: the caller tries the next.
    return false;
  }
}
