import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** One stored baseline; `findings` is the JSON array the posture service wrote. */
export interface StoredPostureBaseline {
  id: number;
  taken_at: string;
  /** The server it was taken of (its cluster id, else its address). */
  server: string;
  findings: string;
}

/** Posture baselines (`posture baseline`, read by `posture diff`). */
export class PostureBaselineRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async save(baseline: Omit<StoredPostureBaseline, 'id'>): Promise<number> {
    const row = await this.db
      .insertInto('posture_baselines')
      .values(baseline)
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  /** The newest baseline of `server`, if one was taken. */
  async latest(server: string): Promise<StoredPostureBaseline | undefined> {
    const row = await this.db
      .selectFrom('posture_baselines')
      .selectAll()
      .where('server', '=', server)
      .orderBy('taken_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && { ...row, id: Number(row.id) };
  }
}
