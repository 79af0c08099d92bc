import type { BackupRecord, BackupRepository } from '../store/repositories/backup.repository.js';
import { SnapshotFileError } from './backup.errors.js';
import { inspectSnapshotFile, type SnapshotArchive } from './snapshot-archive.js';

/**
 * Checks a snapshot file offline (inspectSnapshotFile) and finds what `backup snapshot` recorded
 * for it, by its SHA-256. A file sealwatch did not take has no record; a file at a path where a
 * backup with another SHA-256 was recorded has changed since, and is refused.
 */
export async function inspectRecordedSnapshot(
  backups: Pick<BackupRepository, 'findBySha256' | 'findByFile'>,
  file: string,
): Promise<{ archive: SnapshotArchive; record: BackupRecord | undefined }> {
  const archive = await inspectSnapshotFile(file);
  const record = await backups.findBySha256(archive.sha256);
  if (!record) {
    const atPath = await backups.findByFile(file);
    if (atPath)
      throw new SnapshotFileError(
        file,
        `sha256 ${archive.sha256} does not match the ${atPath.sha256} recorded for backup ${atPath.id}: the file changed since it was taken`,
      );
  }
  return { archive, record };
}
