import { SealwatchError, type SealwatchErrorOptions } from '../errors.js';

/** A file given to `backup verify` that is not a whole raft snapshot. Nothing was started. */
export class SnapshotFileError extends SealwatchError {
  constructor(file: string, problem: string, options: SealwatchErrorOptions = {}) {
    super('snapshot_invalid', `${file}: ${problem}`, { ...options, details: { file, ...options.details } });
  }
}

/** The key shares cannot unseal (or generate a root token on) the restored snapshot. */
export class SnapshotKeySharesError extends SealwatchError {
  constructor(message: string, options: SealwatchErrorOptions = {}) {
    super('snapshot_key_shares', message, options);
  }
}

/** Taking, restoring or checking a snapshot failed for another reason. */
export class BackupError extends SealwatchError {
  constructor(message: string, options: SealwatchErrorOptions = {}) {
    super('backup_failed', message, options);
  }
}
