import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import {
  EVENT_COLUMNS,
  toEvent,
  type AnalysisEvent,
  type AnalysisWindow,
} from './audit-analysis.repository.js';

/** A token accessor an incident's containment revoked (the tripwire, see revoked-token-use). */
export interface RevokedAccessor {
  accessor: string;
  incident_id: string | null;
  /** Audit time (nine fraction digits): calls at or after it are uses of a revoked token. */
  revoked_at: string;
}

/** An event with the client token's HMAC key it carried (what recognises a revoked token). */
export interface TokenEvent extends AnalysisEvent {
  client_token: string | null;
}

/** The client-token HMAC keys an accessor's calls carried (one per audit device that stored one). */
export interface AccessorToken {
  accessor: string;
  client_token: string;
}

/** Lists of accessors and tokens are looked up in chunks (SQLite caps bound parameters). */
const CHUNK = 500;

/** An AnalysisEvent's columns and the client token's HMAC key. */
const COLUMNS = [...EVENT_COLUMNS, 'client_token'] as const;

export class RevokedAccessorRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Records revoked accessors. An accessor recorded already keeps its first time: a token revoked
   * once stays revoked, and a second containment does not move the tripwire later.
   */
  async record(accessors: readonly string[], incidentId: string | null, revokedAt: string): Promise<void> {
    for (let start = 0; start < accessors.length; start += CHUNK) {
      const chunk = accessors.slice(start, start + CHUNK);
      if (chunk.length === 0) continue;
      await this.db
        .insertInto('revoked_accessors')
        .values(chunk.map((accessor) => ({ accessor, incident_id: incidentId, revoked_at: revokedAt })))
        .onConflict((oc) => oc.column('accessor').doNothing())
        .execute();
    }
  }

  async list(): Promise<RevokedAccessor[]> {
    return this.db.selectFrom('revoked_accessors').selectAll().orderBy('revoked_at').execute();
  }

  /** How many accessors are recorded and the newest time: watch re-reads the list when either moves. */
  async version(): Promise<string> {
    const row = await this.db
      .selectFrom('revoked_accessors')
      .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('revoked_at').as('newest')])
      .executeTakeFirst();
    return `${Number(row?.n ?? 0)}:${row?.newest ?? ''}`;
  }

  /** The client-token HMAC keys that calls of these accessors carried (through the accessor index). */
  async tokensOf(accessors: readonly string[]): Promise<AccessorToken[]> {
    const out: AccessorToken[] = [];
    for (let start = 0; start < accessors.length; start += CHUNK) {
      const rows = await this.db
        .selectFrom('audit_events')
        .select(['accessor', 'client_token'])
        .distinct()
        .where('accessor', 'in', accessors.slice(start, start + CHUNK))
        .where('client_token', 'is not', null)
        .execute();
      for (const r of rows)
        if (r.accessor !== null && r.client_token !== null)
          out.push({ accessor: r.accessor, client_token: r.client_token });
    }
    return out;
  }

  /**
   * Calls in the window made by these accessors, or without an accessor by these client tokens
   * (a revoked token's refused calls), at or after `since`: the tripwire's candidates, which the
   * rule then judges per accessor. Both halves read an index: the accessor's, and the small partial
   * index over calls without an accessor.
   */
  async candidates(
    window: AnalysisWindow,
    since: string,
    accessors: readonly string[],
    tokens: readonly string[],
  ): Promise<TokenEvent[]> {
    const from = since > window.since ? since : window.since;
    if (from > window.until) return [];
    const base = () =>
      this.db
        .selectFrom('audit_events')
        .select(COLUMNS)
        .where('time', '>=', from)
        .where('time', '<=', window.until)
        .where('type', '=', 'request');
    const rows = [];
    for (let start = 0; start < accessors.length; start += CHUNK)
      rows.push(
        ...(await base()
          .where('accessor', 'in', accessors.slice(start, start + CHUNK))
          .execute()),
      );
    for (let start = 0; start < tokens.length; start += CHUNK)
      rows.push(
        ...(await base()
          .where('accessor', 'is', null)
          .where('client_token', 'in', tokens.slice(start, start + CHUNK))
          .execute()),
      );
    return rows
      .map((r) => toEvent(r))
      .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id - b.id));
  }
}
