import type { Kysely } from 'kysely';
import { toSortableUtc } from '../../util/time.js';
import type { Database } from '../schema.js';
import type { SqliteReader } from '../sqlite-reader.js';

/** A login that issued no token: what the auth-failures runbook classifies. */
export interface FailedLogin {
  time: string;
  path: string;
  mount_point: string | null;
  mount_type: string | null;
  remote_address: string | null;
  /** The top-level error, when the device wrote one ("invalid credentials", "permission denied"). */
  error: string | null;
  /** Every HMAC the entry carries (by key, see hmac-key.ts): the request's role_id/secret_id, the response's error. */
  hmac_values: string;
}

/** Successful logins of one mount and metadata (`{"role_name":"mailer"}`), the last one's time. */
export interface LoginSuccesses {
  mount_point: string | null;
  metadata: Record<string, string> | null;
  count: number;
  last: string;
}

/**
 * Login attempts in the audit store. A login is a response to `auth/<mount>/login[/<user>]`; it
 * succeeded when it issued a token (issued_token_ttl is set), whatever the error fields say: a
 * refused AppRole or userpass login often carries its message only in the HMAC'd response data.
 */
export class AuditLoginRepository {
  constructor(
    private readonly db: Kysely<Database>,
    /** Runs the grouped count off the event loop (a SQLite file); absent, Kysely runs it. */
    private readonly reader?: SqliteReader,
  ) {}

  /** Whether anything at all was ingested. */
  async hasEvents(): Promise<boolean> {
    const row = await this.db.selectFrom('audit_events').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }

  private logins(since: string) {
    return this.db
      .selectFrom('audit_events')
      .where('type', '=', 'response')
      .where('time', '>=', toSortableUtc(since) ?? since)
      .where('path', 'like', 'auth/%/login%');
  }

  /** Logins that issued no token since `since`, oldest first (at most `limit`). */
  async failed(since: string, limit = 50_000): Promise<FailedLogin[]> {
    const rows = await this.logins(since)
      .where('issued_token_ttl', 'is', null)
      .select(['time', 'path', 'mount_point', 'mount_type', 'remote_address', 'error', 'hmac_values'])
      .orderBy('time')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, path: r.path ?? '' }));
  }

  /** How many logins issued no token in [since, until): watch's auth-failure-rate counts these. */
  async countFailed(since: string, until: string): Promise<number> {
    const row = await this.logins(since)
      .where('time', '<', toSortableUtc(until) ?? until)
      .where('issued_token_ttl', 'is', null)
      .select(({ fn }) => fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Successful logins since `since`, by mount and metadata. */
  async succeeded(since: string): Promise<LoginSuccesses[]> {
    const query = this.logins(since)
      .where('issued_token_ttl', 'is not', null)
      .select(({ fn }) => [
        'mount_point',
        'metadata',
        fn.countAll<number | string | bigint>().as('count'),
        fn.max('time').as('last'),
      ])
      .groupBy(['mount_point', 'metadata']);
    const rows = this.reader ? await this.reader.all(query.compile()) : await query.execute();
    return rows.map((r) => ({
      mount_point: r.mount_point,
      metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, string>),
      count: Number(r.count),
      last: r.last,
    }));
  }
}
