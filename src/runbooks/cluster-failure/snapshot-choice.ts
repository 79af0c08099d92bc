import { resolve } from 'node:path';
import { newestVerifiedSnapshot } from '../../backup/newest-verified.js';
import { inspectRecordedSnapshot } from '../../backup/recorded-snapshot.js';
import { SealwatchError } from '../../errors.js';
import type { BackupRecord } from '../../store/repositories/backup.repository.js';
import type { Store } from '../../store/store.js';

/** The snapshot a recovery restores: the file, its checksum as read now, and what `backup snapshot` recorded. */
export interface ChosenSnapshot {
  file: string;
  sha256: string;
  bytes: number;
  /** Absent for a file sealwatch did not take: restored without a baseline to compare. */
  record?: BackupRecord;
  /** Whether a restore drill (`backup verify`) passed on it last. */
  verified: boolean;
}

export const REINITIALISE_ADVICE =
  'run sealwatch backup verify FILE on a snapshot (then runbook run cluster-failure restores it); with no snapshot at all the data is gone: initialise one node (bao operator init), unseal it, join and unseal the others, re-create auth methods, secret engines and policies from their source, then rotate every tenant secret (sealwatch rotate) — nothing of the old cluster comes back';

export class NoVerifiedSnapshotError extends SealwatchError {
  constructor() {
    super('no_verified_snapshot', `no verified snapshot to restore from: ${REINITIALISE_ADVICE}`);
  }
}

/**
 * Re-reads the snapshot before it is trusted: `--snapshot F` is checked offline (a whole raft
 * snapshot, sums matching) and must not contradict what was recorded at that path; without it the
 * newest verified snapshot whose file still hashes to the recorded sha256.
 */
export async function chooseSnapshot(
  deps: { store: Pick<Store, 'backups'> },
  given: string | undefined,
): Promise<ChosenSnapshot> {
  if (given) {
    const file = resolve(given);
    const { archive, record } = await inspectRecordedSnapshot(deps.store.backups, file);
    const drills = await deps.store.backups.verificationsOf(archive.sha256);
    return {
      file,
      sha256: archive.sha256,
      bytes: archive.bytes,
      ...(record ? { record } : {}),
      verified: drills[0]?.ok === true,
    };
  }
  const newest = await newestVerifiedSnapshot(deps, { checkArchive: true });
  if (!newest) throw new NoVerifiedSnapshotError();
  return {
    file: newest.backup.file,
    sha256: newest.backup.sha256,
    bytes: newest.backup.bytes,
    record: newest.backup,
    verified: true,
  };
}
