import type { Kysely, Selectable } from 'kysely';
import type { BackupTable, BackupVerificationTable, Database } from '../schema.js';
import { redactText, redactValue } from '../../logging/redactor.js';

/** One KV v2 secret of the baseline: where it is and which version existed, never its value. */
export interface BaselineKvPath {
  mount: string;
  path: string;
  version: number;
  /** created_time of that version: a restore must bring back this exact version. */
  created_time: string;
  updated_time: string;
}

/** What a restore of the snapshot must show again. Counts and versions only: no secret, no hash of one. */
export interface SnapshotBaseline {
  policies: number;
  auth_mounts: number;
  secret_mounts: number;
  kv_mounts: string[];
  kv_sample: BaselineKvPath[];
}

export interface BackupRecord {
  id: string;
  taken_at: string;
  file: string;
  bytes: number;
  sha256: string;
  cluster_name: string | null;
  cluster_id: string | null;
  leader_address: string | null;
  server_flavor: string;
  server_version: string;
  key_shares: number | null;
  key_threshold: number | null;
  baseline: SnapshotBaseline;
}

export interface VerificationCheck {
  id: string;
  ok: boolean;
  detail: string;
}

export interface BackupVerification {
  id: number;
  backup_id: string | null;
  file: string;
  sha256: string;
  started_at: string;
  finished_at: string;
  ok: boolean;
  checks: VerificationCheck[];
  seconds: Record<string, number>;
  error: string | null;
}

/** Snapshots taken and the restore drills run on them. */
export class BackupRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async record(backup: BackupRecord): Promise<void> {
    await this.db
      .insertInto('backups')
      .values({
        ...backup,
        baseline: JSON.stringify(redactValue(backup.baseline)),
      })
      .execute();
  }

  async get(id: string): Promise<BackupRecord | undefined> {
    const row = await this.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toBackup(row) : undefined;
  }

  /** The newest snapshot with this checksum (the same bytes may have been recorded twice). */
  async findBySha256(sha256: string): Promise<BackupRecord | undefined> {
    const row = await this.db
      .selectFrom('backups')
      .selectAll()
      .where('sha256', '=', sha256)
      .orderBy('taken_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? toBackup(row) : undefined;
  }

  /** The newest snapshot recorded at this path. */
  async findByFile(file: string): Promise<BackupRecord | undefined> {
    const row = await this.db
      .selectFrom('backups')
      .selectAll()
      .where('file', '=', file)
      .orderBy('taken_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? toBackup(row) : undefined;
  }

  /** Snapshots, newest first. */
  async list(limit = 100): Promise<BackupRecord[]> {
    const rows = await this.db
      .selectFrom('backups')
      .selectAll()
      .orderBy('taken_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toBackup);
  }

  async recordVerification(verification: Omit<BackupVerification, 'id'>): Promise<number> {
    const row = await this.db
      .insertInto('backup_verifications')
      .values({
        ...verification,
        ...(verification.error ? { error: redactText(verification.error) } : {}),
        ok: verification.ok ? 1 : 0,
        checks: JSON.stringify(redactValue(verification.checks)),
        seconds: JSON.stringify(verification.seconds),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  /** Drills run on the snapshot with this checksum, newest first. */
  async verificationsOf(sha256: string): Promise<BackupVerification[]> {
    const rows = await this.db
      .selectFrom('backup_verifications')
      .selectAll()
      .where('sha256', '=', sha256)
      .orderBy('finished_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toVerification);
  }

  /**
   * Recorded snapshots whose latest drill succeeded, newest snapshot first, each with that drill.
   * A snapshot whose last drill failed is not verified, whatever an earlier drill said.
   */
  async verifiedNewestFirst(
    options: { clusterId?: string; limit?: number } = {},
  ): Promise<{ backup: BackupRecord; verification: BackupVerification }[]> {
    let query = this.db
      .selectFrom('backups')
      .innerJoin('backup_verifications', 'backup_verifications.sha256', 'backups.sha256')
      .selectAll('backups')
      .where('backup_verifications.ok', '=', 1)
      .orderBy('backups.taken_at', 'desc')
      .orderBy('backups.id', 'desc');
    if (options.clusterId) query = query.where('backups.cluster_id', '=', options.clusterId);
    const rows = await query.execute();
    const result: { backup: BackupRecord; verification: BackupVerification }[] = [];
    const seen = new Set<string>();
    for (const row of rows) {
      if (seen.has(row.id)) continue;
      seen.add(row.id);
      const latest = (await this.verificationsOf(row.sha256))[0];
      if (!latest?.ok) continue;
      result.push({ backup: toBackup(row), verification: latest });
      if (options.limit !== undefined && result.length >= options.limit) break;
    }
    return result;
  }
}

function toBackup(row: Selectable<BackupTable>): BackupRecord {
  return {
    ...row,
    bytes: Number(row.bytes),
    key_shares: row.key_shares === null ? null : Number(row.key_shares),
    key_threshold: row.key_threshold === null ? null : Number(row.key_threshold),
    baseline: JSON.parse(row.baseline) as SnapshotBaseline,
  };
}

function toVerification(row: Selectable<BackupVerificationTable>): BackupVerification {
  return {
    ...row,
    id: Number(row.id),
    ok: Number(row.ok) === 1,
    checks: JSON.parse(row.checks) as VerificationCheck[],
    seconds: JSON.parse(row.seconds) as Record<string, number>,
  };
}
