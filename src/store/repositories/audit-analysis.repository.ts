import { sql, type ExpressionBuilder, type Kysely, type RawBuilder } from 'kysely';
import type SQLite from 'better-sqlite3';
import { hmacKey } from '../hmac-key.js';
import { ROOT_POLICY, SUCCESSFUL_READ } from '../migrations/0003-audit-analysis.migration.js';
import type { Database } from '../schema.js';
import { actorGroupsSqlite, type ActorGroup } from './actor-groups.sqlite.js';

/**
 * A time window over audit events, as audit times: ISO-8601 UTC with nine fraction digits, the form
 * ingestion stores, so that text comparison is time comparison. Both ends are inclusive.
 */
export interface AnalysisWindow {
  since: string;
  until: string;
}

/** The columns of one event that detection rules and reports read. */
export interface AnalysisEvent {
  id: number;
  time: string;
  type: string;
  request_id: string | null;
  operation: string | null;
  path: string | null;
  mount_point: string | null;
  mount_type: string | null;
  accessor: string | null;
  display_name: string | null;
  remote_address: string | null;
  error: string | null;
  policies: string[];
  issued_token_ttl: number | null;
}

/** Successful reads of one path by one accessor in a window. */
export interface PathReads {
  accessor: string;
  path: string;
  mount_point: string | null;
  mount_type: string | null;
  reads: number;
  first_read: string;
}

/** A path read successfully in the window, with the tenant ingestion stored for its events. */
export interface ReadPath {
  path: string;
  mount_point: string | null;
  mount_type: string | null;
  /** The stored tenant (the same for every read of the path when `tenants_agree`). */
  tenant: string | null;
  /** False when its reads were stored with different tenants (templates changed between ingests). */
  tenants_agree: boolean;
  reads: number;
  /** Its reads by a token (an accessor is logged). */
  reads_by_tokens: number;
}

/** One accessor's successful reads of some paths, with the tenants stored for them. */
export interface AccessorTenantReads {
  accessor: string;
  reads: number;
  /** Distinct stored tenants of those reads (reads of paths without a tenant add none). */
  tenants: string[];
}

/** The earliest read of one stored tenant by one accessor. */
export interface TenantFirstRead {
  tenant: string;
  path: string;
  first_read: string;
}

export interface AccessorActivity {
  accessor: string;
  display_name: string | null;
  first_seen: string;
  last_seen: string;
  denied: number;
  remote_addresses: string[];
  /** The address of its first call in the window. */
  first_address: string | null;
}

/** The substring OpenBao puts in every ACL refusal ("1 error occurred:\n\t* permission denied"). */
/**
 * Which events belong to a suspect (src/assess/suspects.ts), optionally bounded in time (ISO).
 * `accessors`: raw or HMAC'd accessors; `token`: those plus every accessor that used the token
 * (found by its HMACs); `role`: tokens of a role of an auth mount (login metadata role_name, role
 * or username, and the mount of the login or the token's display name); `address`: a predicate
 * over remote addresses (a CIDR).
 */
export type ActorSelector = (
  | { kind: 'accessors'; accessors: readonly string[] }
  | { kind: 'token'; accessors: readonly string[]; token_hashes: readonly string[] }
  | { kind: 'role'; mount: string; role: string }
  | { kind: 'entity'; entity_id: string }
  | { kind: 'display-name'; display_name: string }
  | { kind: 'address'; matches: (address: string) => boolean }
) & { since?: string; until?: string };

/** Events a selector matched, per accessor (null: calls without a token, e.g. failed logins). */
export interface SelectedActor {
  accessor: string | null;
  events: number;
}

export const PERMISSION_DENIED = 'permission denied';

/**
 * Calls refused by policy per accessor, from failed responses already loaded: what
 * accessorActivity would count in SQL (whose LIKE ignores ASCII case, hence toLowerCase).
 */
export function countRefusals(failed: readonly AnalysisEvent[]): Map<string, number> {
  const refused = new Map<string, number>();
  for (const event of failed)
    if (event.accessor !== null && event.error?.toLowerCase().includes(PERMISSION_DENIED))
      refused.set(event.accessor, (refused.get(event.accessor) ?? 0) + 1);
  return refused;
}

/** SQLite caps bound parameters per statement; lists of accessors are looked up in chunks. */
const IN_CHUNK = 500;

/** Read through the covering read indexes when the window holds at least 1/this of the store. */
const WINDOW_SHARE_FOR_COVERING = 4;

/** Events read from each end of the window to tell whether accessors are HMAC'd. */
const ACCESSOR_SAMPLE = 2000;

/** The columns an AnalysisEvent is read from (what toEvent turns a row of them into). */
export const EVENT_COLUMNS = [
  'id',
  'time',
  'type',
  'request_id',
  'operation',
  'path',
  'mount_point',
  'mount_type',
  'accessor',
  'display_name',
  'remote_address',
  'error',
  'policies',
  'issued_token_ttl',
] as const;

/**
 * The read side of breach assessment and leak tracing. Every query aggregates or filters in the
 * database, on indexed columns, so an assessment over a day of a busy cluster (a million events)
 * returns in well under two seconds: rows reach JavaScript only when they are findings.
 */
export class AuditAnalysisRepository {
  /** SQLite gets hand-written SQL on the hot aggregates: index hints and results packed as JSON. */
  private readonly sqlite: boolean;

  constructor(
    private readonly db: Kysely<Database>,
    /**
     * The raw handle of a SQLite store (`db` runs over it), for the actor summary's thousands of
     * index seeks; absent on PostgreSQL.
     */
    private readonly handle?: SQLite.Database,
  ) {
    this.sqlite = handle !== undefined;
  }

  /** Number of events in the window. */
  async countEvents(window: AnalysisWindow): Promise<number> {
    const row = await this.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('time', '>=', window.since)
      .where('time', '<=', window.until)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Time of the first event stored in the window, or null when it holds none. */
  async firstEventTime(window: AnalysisWindow): Promise<string | null> {
    const row = await this.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.min('time').as('first'))
      .where('time', '>=', window.since)
      .where('time', '<=', window.until)
      .executeTakeFirst();
    return row?.first ?? null;
  }

  /** Whether anything was stored before `time`: without that, "never seen before" means nothing. */
  async hasEventsBefore(time: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('audit_events')
      .select('id')
      .where('time', '<', time)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Failed calls (one response event per call), from the partial index over errors. */
  async failedResponses(window: AnalysisWindow): Promise<AnalysisEvent[]> {
    return this.eventsOf(this.events(window).where('error', 'is not', null).where('type', '=', 'response'));
  }

  /** Calls made with a token holding the root policy (request events, one per call). */
  async rootTokenRequests(window: AnalysisWindow): Promise<AnalysisEvent[]> {
    // The partial index audit_events_root's own condition, so the planner uses it.
    return this.eventsOf(this.events(window).where(ROOT_POLICY).where('type', '=', 'request'));
  }

  /** Calls that change state under a path prefix (response events, so the outcome is known). */
  async writesUnder(window: AnalysisWindow, prefix: string): Promise<AnalysisEvent[]> {
    return this.eventsOf(
      this.events(window)
        .where((eb) => underPrefix(eb, prefix))
        .where('type', '=', 'response')
        .where('operation', 'in', ['create', 'update', 'delete']),
    );
  }

  /** Successful responses under a path prefix (e.g. token creations under auth/token/create). */
  async successesUnder(window: AnalysisWindow, prefix: string): Promise<AnalysisEvent[]> {
    return this.eventsOf(
      this.events(window)
        .where((eb) => underPrefix(eb, prefix))
        .where('type', '=', 'response')
        .where('error', 'is', null),
    );
  }

  /**
   * Successful reads per accessor and path in the window: one row per pair, counted in the
   * database, ordered by path (then accessor) so that consecutive rows share a path. Which reads are secrets and whose tenant they are is decided by the caller, from the
   * templates configured now.
   */
  async readsByAccessor(window: AnalysisWindow, accessors?: readonly string[]): Promise<PathReads[]> {
    if (this.sqlite && !accessors) return this.readsByAccessorSqlite(window);
    const query = (subset?: readonly string[]) => {
      let q = this.db
        .selectFrom('audit_events')
        .select((eb) => [
          'accessor',
          'path',
          eb.fn.max('mount_point').as('mount_point'),
          eb.fn.max('mount_type').as('mount_type'),
          eb.fn.countAll<number | string>().as('reads'),
          eb.fn.min('time').as('first_read'),
        ])
        // Served by the covering partial index audit_events_path_reads, in group order: no sort,
        // no table. Rows without accessor or path are dropped below: an IS NOT NULL here makes SQLite
        // seek instead of scan, twice as slow.
        .where(SUCCESSFUL_READ)
        .where('time', '>=', window.since)
        .where('time', '<=', window.until);
      if (subset) q = q.where('accessor', 'in', subset);
      return q.groupBy(['path', 'accessor']).orderBy('path').orderBy('accessor').execute();
    };
    const rows = accessors ? (await chunked(accessors, query)).flat() : await query();
    return rows
      .filter((r) => r.accessor !== null && r.path !== null)
      .map((r) => ({
        accessor: r.accessor!,
        path: r.path!,
        mount_point: r.mount_point,
        mount_type: r.mount_type,
        reads: Number(r.reads),
        first_read: String(r.first_read),
      }));
  }

  /**
   * Every path read successfully in the window, once, with its mount, its read count and the
   * tenant stored with its reads: what assessment classifies with the templates configured now.
   */
  async readPaths(window: AnalysisWindow): Promise<ReadPath[]> {
    const rows = await this.packed<{
      path: string;
      mount_point: string | null;
      mount_type: string | null;
      low: string | null;
      high: string | null;
      tenanted: number | string;
      reads: number | string;
      by_tokens: number | string;
    }>(
      sql`
        SELECT path, max(mount_point) AS mount_point, max(mount_type) AS mount_type,
               min(tenant) AS low, max(tenant) AS high, count(tenant) AS tenanted, count(*) AS reads,
               count(accessor) AS by_tokens
        FROM audit_events ${await this.readsIndex(window, 'audit_events_path_reads')}
        WHERE ${SUCCESSFUL_READ} AND time >= ${window.since} AND time <= ${window.until} AND path IS NOT NULL
        GROUP BY path`,
      ['path', 'mount_point', 'mount_type', 'low', 'high', 'tenanted', 'reads', 'by_tokens'],
    );
    return rows.map((r) => {
      const reads = Number(r.reads);
      const tenanted = Number(r.tenanted);
      return {
        path: r.path,
        mount_point: r.mount_point,
        mount_type: r.mount_type,
        tenant: r.low,
        tenants_agree: tenanted === 0 || (tenanted === reads && r.low === r.high),
        reads,
        reads_by_tokens: Number(r.by_tokens),
      };
    });
  }

  /**
   * Per accessor: its successful reads in the window, except of the paths in `skipPaths`, and the
   * distinct tenants stored with them. Grouped in the order of audit_events_accessor_reads, so a
   * day of reads is counted without sorting; the tenants come back as one '/'-joined string per
   * accessor ('/' cannot occur in a path segment, so in a tenant).
   */
  async readsByStoredTenant(
    window: AnalysisWindow,
    skipPaths: readonly string[],
  ): Promise<AccessorTenantReads[]> {
    const joined = this.sqlite ? sql`group_concat(tenant, '/')` : sql`string_agg(tenant, '/')`;
    const { rows } = await sql<{ accessor: string; reads: number | string; tenants: string | null }>`
      SELECT accessor, sum(n) AS reads, ${joined} AS tenants
      FROM (
        SELECT accessor, tenant, count(*) AS n
        FROM audit_events ${await this.readsIndex(window, 'audit_events_accessor_reads')}
        WHERE ${SUCCESSFUL_READ} AND time >= ${window.since} AND time <= ${window.until}
          AND accessor IS NOT NULL AND path IS NOT NULL AND ${this.notIn('path', skipPaths)}
        GROUP BY accessor, tenant
      ) pairs
      GROUP BY accessor`.execute(this.db);
    return rows.map((r) => ({
      accessor: r.accessor,
      reads: Number(r.reads),
      tenants: r.tenants === null || r.tenants === '' ? [] : r.tenants.split('/'),
    }));
  }

  /** The earliest read of each stored tenant by one accessor, except of the paths in `skipPaths`. */
  async firstReadsByStoredTenant(
    window: AnalysisWindow,
    accessor: string,
    skipPaths: readonly string[],
  ): Promise<TenantFirstRead[]> {
    const where = sql`${SUCCESSFUL_READ} AND accessor = ${accessor} AND time >= ${window.since}
      AND time <= ${window.until} AND tenant IS NOT NULL AND path IS NOT NULL AND ${this.notIn('path', skipPaths)}`;
    // SQLite takes the other columns of min()'s row; PostgreSQL says so with DISTINCT ON.
    const { rows } = await (
      this.sqlite
        ? sql<TenantFirstRead>`
          SELECT tenant, path, min(time) AS first_read
          FROM audit_events INDEXED BY audit_events_accessor_reads WHERE ${where} GROUP BY tenant`
        : sql<TenantFirstRead>`
          SELECT DISTINCT ON (tenant) tenant, path, time AS first_read
          FROM audit_events WHERE ${where} ORDER BY tenant, time`
    ).execute(this.db);
    return rows.map((r) => ({ tenant: r.tenant, path: r.path, first_read: String(r.first_read) }));
  }

  /**
   * Successful reads per path in the window by the given accessors (usually a few implicated
   * tokens: their reads are found through audit_events_accessor_reads, one range each).
   */
  async readsOfPathsBy(
    window: AnalysisWindow,
    accessors: readonly string[],
  ): Promise<{ path: string; reads: number }[]> {
    if (accessors.length === 0) return [];
    const rows = await this.packed<{ path: string; reads: number | string }>(
      sql`
        SELECT path, count(*) AS reads
        FROM audit_events ${this.indexedBy('audit_events_accessor_reads')}
        WHERE ${SUCCESSFUL_READ} AND time >= ${window.since} AND time <= ${window.until}
          AND path IS NOT NULL AND ${this.in('accessor', accessors)}
        GROUP BY path`,
      ['path', 'reads'],
    );
    return rows.map((r) => ({ path: r.path, reads: Number(r.reads) }));
  }

  /**
   * Runs a query and returns its rows. On SQLite they travel as one JSON array: better-sqlite3
   * spends more on building each JS row than SQLite on computing it, and a JSON.parse of them all
   * at once is several times cheaper.
   */
  private async packed<R extends Record<string, unknown>>(
    query: RawBuilder<unknown>,
    columns: readonly (keyof R & string)[],
  ): Promise<R[]> {
    if (!this.sqlite) return (await (query as RawBuilder<R>).execute(this.db)).rows;
    const { rows } = await sql<{ packed: string | null }>`
      SELECT json_group_array(json_array(${sql.join(columns.map((c) => sql.ref(`q.${c}`)))})) AS packed
      FROM (${query}) q`.execute(this.db);
    const arrays = JSON.parse(rows[0]?.packed ?? '[]') as unknown[][];
    return arrays.map((values) => {
      const row: Record<string, unknown> = {};
      columns.forEach((c, i) => (row[c] = values[i]));
      return row as R;
    });
  }

  /** `column IN (values)` for any number of values: one JSON or array parameter, not one each. */
  private in(column: string, values: readonly string[]) {
    return this.sqlite
      ? sql`${sql.ref(column)} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`
      : sql`${sql.ref(column)} = ANY(${[...values]}::text[])`;
  }

  private notIn(column: string, values: readonly string[]) {
    return this.sqlite
      ? sql`${sql.ref(column)} NOT IN (SELECT value FROM json_each(${JSON.stringify(values)}))`
      : sql`${sql.ref(column)} <> ALL(${[...values]}::text[])`;
  }

  /**
   * readsByAccessor on SQLite. A day of a busy cluster has hundreds of thousands of (accessor,
   * path) pairs, and better-sqlite3 spends more on building a JS row than SQLite on aggregating it;
   * so the pairs come back as one JSON array, parsed in one call. The index is named: with bound
   * times and no statistics SQLite would take the time index and read the table instead.
   */
  private async readsByAccessorSqlite(window: AnalysisWindow): Promise<PathReads[]> {
    const { rows } = await sql<{ pairs: string | null }>`
      SELECT json_group_array(json_array(accessor, path, mount_point, mount_type, reads, first_read)) AS pairs
      FROM (
        SELECT accessor, path, max(mount_point) AS mount_point, max(mount_type) AS mount_type,
               count(*) AS reads, min(time) AS first_read
        FROM audit_events ${await this.readsIndex(window, 'audit_events_path_reads')}
        WHERE ${SUCCESSFUL_READ} AND time >= ${window.since} AND time <= ${window.until}
        GROUP BY path, accessor
      )
      WHERE accessor IS NOT NULL AND path IS NOT NULL`.execute(this.db);
    const pairs = JSON.parse(rows[0]?.pairs ?? '[]') as [
      string,
      string,
      string | null,
      string | null,
      number,
      string,
    ][];
    return pairs.map(([accessor, path, mount_point, mount_type, reads, first_read]) => ({
      accessor,
      path,
      mount_point,
      mount_type,
      reads,
      first_read,
    }));
  }

  /**
   * Addresses whose first stored event falls inside the window, with that time. Reads only the
   * (remote_address, time) index.
   */
  async addressesFirstSeenIn(
    window: AnalysisWindow,
  ): Promise<{ remote_address: string; first_seen: string }[]> {
    // Walks the distinct addresses through the (remote_address, time) index (a loose index scan:
    // one seek per address) and takes each one's first time with one more seek, instead of
    // grouping every event of the day. Both SQLite and PostgreSQL run this recursive form.
    const result = await sql<{ remote_address: string; first_seen: string }>`
      WITH RECURSIVE addresses(address) AS (
        SELECT MIN(remote_address) FROM audit_events
        UNION ALL
        SELECT (SELECT MIN(remote_address) FROM audit_events WHERE remote_address > addresses.address)
        FROM addresses WHERE addresses.address IS NOT NULL
      )
      SELECT address AS remote_address, first_seen FROM (
        SELECT address, (SELECT MIN(time) FROM audit_events WHERE remote_address = addresses.address) AS first_seen
        FROM addresses WHERE address IS NOT NULL
      ) firsts
      WHERE first_seen >= ${window.since} AND first_seen <= ${window.until}`.execute(this.db);
    return result.rows.map((r) => ({ remote_address: r.remote_address, first_seen: String(r.first_seen) }));
  }

  /**
   * Every remote address stored, once (a loose index scan of the (remote_address, time) index: one
   * seek per address): what live detection counts as seen before it started.
   */
  async storedAddresses(): Promise<string[]> {
    const result = await sql<{ address: string | null }>`
      WITH RECURSIVE addresses(address) AS (
        SELECT MIN(remote_address) FROM audit_events
        UNION ALL
        SELECT (SELECT MIN(remote_address) FROM audit_events WHERE remote_address > addresses.address)
        FROM addresses WHERE addresses.address IS NOT NULL
      )
      SELECT address FROM addresses WHERE address IS NOT NULL`.execute(this.db);
    return result.rows.flatMap((r) => (r.address === null ? [] : [r.address]));
  }

  /** The first request of each (address, accessor) pair from the given addresses in the window. */
  async firstRequestsFrom(window: AnalysisWindow, addresses: readonly string[]): Promise<AnalysisEvent[]> {
    const rows = await chunked(addresses, (subset) =>
      this.db
        .selectFrom('audit_events')
        .select(EVENT_COLUMNS)
        .where('id', 'in', (qb) =>
          qb
            .selectFrom('audit_events')
            .select((eb) => eb.fn.min('id').as('id'))
            .where('remote_address', 'in', subset)
            .where('time', '>=', window.since)
            .where('time', '<=', window.until)
            .where('type', '=', 'request')
            .groupBy(['remote_address', 'accessor']),
        )
        .execute(),
    );
    return rows.flat().map(toEvent);
  }

  /**
   * Who each accessor is (display name and policies). A token's name and policies are fixed when
   * it is made, so any event that carries its auth block says it: on SQLite one seek of
   * audit_events_actor per accessor finds one (an event without auth, a refused call, only when
   * there is nothing else), not a walk over every event of a busy token. PostgreSQL takes the
   * first stored event.
   */
  async accessorIdentities(
    accessors: readonly string[],
  ): Promise<{ accessor: string; display_name: string | null; policies: string[] }[]> {
    if (this.sqlite) {
      const one = (condition: RawBuilder<unknown>) => sql`
        (SELECT id FROM audit_events INDEXED BY audit_events_actor WHERE accessor = a.value AND ${condition} LIMIT 1)`;
      const { rows } = await sql<{ accessor: string; display_name: string | null; policies: string }>`
        SELECT e.accessor, e.display_name, e.policies
        FROM json_each(${JSON.stringify(accessors)}) a
        JOIN audit_events e ON e.id = coalesce(${one(sql`display_name IS NOT NULL`)}, ${one(sql`1`)})`.execute(
        this.db,
      );
      return rows.map((r) => ({ ...r, policies: parsePolicies(r.policies) }));
    }
    const rows = await chunked(accessors, (subset) =>
      this.db
        .selectFrom('audit_events')
        .select(['accessor', 'display_name', 'policies'])
        .where('id', 'in', (qb) =>
          qb
            .selectFrom('audit_events')
            .select((eb) => eb.fn.min('id').as('id'))
            .where('accessor', 'in', subset)
            .groupBy('accessor'),
        )
        .execute(),
    );
    return rows.flat().map((r) => ({
      accessor: r.accessor!,
      display_name: r.display_name,
      policies: parsePolicies(r.policies),
    }));
  }

  /**
   * What each accessor did in the window: name, when, from where, how often it was refused
   * (`refused`: calls refused by policy per accessor in the window, counted by the caller from the
   * failed calls it loaded, see countRefusals). One group per (accessor, address, name) from the
   * covering index audit_events_actor, which is already in that order, so the table is never read:
   * on SQLite by seeking from group to group (actorGroupsSqlite), elsewhere by grouping.
   */
  async accessorActivity(
    window: AnalysisWindow,
    accessors: readonly string[],
    refused: ReadonlyMap<string, number>,
  ): Promise<AccessorActivity[]> {
    const groups = this.handle
      ? actorGroupsSqlite(this.handle, window, accessors)
      : (
          await chunked(accessors, async (subset) => {
            const { rows } = await sql<ActorGroup>`
              SELECT accessor, remote_address, max(display_name) AS display_name, min(time) AS first, max(time) AS last
              FROM audit_events
              WHERE accessor IN (${sql.join(subset)}) AND time >= ${window.since} AND time <= ${window.until}
              GROUP BY accessor, remote_address`.execute(this.db);
            return rows;
          })
        ).flat();
    const byAccessor = new Map<string, AccessorActivity & { firstAddressAt: string | null }>();
    for (const g of groups) {
      const first = String(g.first);
      const last = String(g.last);
      let a = byAccessor.get(g.accessor);
      if (!a) {
        a = {
          accessor: g.accessor,
          display_name: null,
          first_seen: first,
          last_seen: last,
          denied: refused.get(g.accessor) ?? 0,
          remote_addresses: [],
          first_address: null,
          firstAddressAt: null,
        };
        byAccessor.set(g.accessor, a);
      }
      if (g.display_name !== null && (a.display_name === null || g.display_name > a.display_name))
        a.display_name = g.display_name;
      if (first < a.first_seen) a.first_seen = first;
      if (last > a.last_seen) a.last_seen = last;
      if (g.remote_address === null) continue;
      if (!a.remote_addresses.includes(g.remote_address)) a.remote_addresses.push(g.remote_address);
      if (a.firstAddressAt === null || first < a.firstAddressAt) {
        a.firstAddressAt = first;
        a.first_address = g.remote_address;
      }
    }
    return [...byAccessor.values()].map(({ firstAddressAt: _, ...a }) => ({
      ...a,
      remote_addresses: a.remote_addresses.sort(),
    }));
  }

  /**
   * Which index SQLite reads a window's successful reads through. The covering read indexes are
   * in group order but not in time order, so through them a query reads every read ever stored:
   * right when the window holds most of the store (an assessment after an ingest), wasteful when
   * it is a day of a month. Then the time index reads just the window, table rows included. The
   * share is estimated from ids at the window's edges (four index seeks; ingestion stores in time
   * order), which can only make a query slower, never change what it returns.
   */
  private async readsIndex(window: AnalysisWindow, covering: string) {
    if (!this.sqlite) return sql``;
    const { rows } = await sql<{
      first: number | null;
      last: number | null;
      low: number | null;
      high: number | null;
    }>`
      SELECT (SELECT id FROM audit_events WHERE time >= ${window.since} ORDER BY time LIMIT 1) AS first,
             (SELECT id FROM audit_events WHERE time <= ${window.until} ORDER BY time DESC LIMIT 1) AS last,
             (SELECT min(id) FROM audit_events) AS low, (SELECT max(id) FROM audit_events) AS high`.execute(
      this.db,
    );
    const { first, last, low, high } = rows[0] ?? { first: null, last: null, low: null, high: null };
    const inWindow = first === null || last === null ? 0 : Math.abs(last - first) + 1;
    const stored = low === null || high === null ? 0 : high - low + 1;
    return this.indexedBy(inWindow * WINDOW_SHARE_FOR_COVERING >= stored ? covering : 'audit_events_time');
  }

  /** SQLite's index hint (nothing on PostgreSQL, whose planner has statistics to go by). */
  private indexedBy(index: string) {
    return this.sqlite ? sql.raw(`INDEXED BY ${index}`) : sql``;
  }

  /**
   * Whether the accessors stored in the window are HMAC'd: `all`, `none`, `some`, or `no-data`.
   * Judged from the first and last events of the window that carry an accessor (a device's
   * hmac_accessor setting changes with its configuration, not per request), so it costs two short
   * index range reads instead of a scan of the day.
   */
  async accessorHashing(window: AnalysisWindow): Promise<'all' | 'none' | 'some' | 'no-data'> {
    const sample = (direction: 'asc' | 'desc') =>
      this.db
        .selectFrom('audit_events')
        .select('accessor_hmac')
        .where('time', '>=', window.since)
        .where('time', '<=', window.until)
        .where('accessor', 'is not', null)
        .orderBy('time', direction)
        .limit(ACCESSOR_SAMPLE)
        .execute();
    const rows = (await Promise.all([sample('asc'), sample('desc')])).flat();
    const hashed = rows.some((r) => Number(r.accessor_hmac) === 1);
    const clear = rows.some((r) => Number(r.accessor_hmac) === 0);
    if (hashed && clear) return 'some';
    if (hashed) return 'all';
    if (clear) return 'none';
    return 'no-data';
  }

  /**
   * The accessors a selector matches in the window (narrowed by the selector's own bounds), with
   * the number of their events there. Role and address selectors first read the few candidate rows
   * and decide in code (metadata is JSON text; CIDRs are not SQL).
   */
  async actorsMatching(window: AnalysisWindow, selector: ActorSelector): Promise<SelectedActor[]> {
    const asAudit = (iso: string) => iso.replace(/Z$/, '000000Z');
    const since =
      selector.since && asAudit(selector.since) > window.since ? asAudit(selector.since) : window.since;
    const until =
      selector.until && asAudit(selector.until) < window.until ? asAudit(selector.until) : window.until;
    if (since > until) return [];
    const inWindow = this.db.selectFrom('audit_events').where('time', '>=', since).where('time', '<=', until);
    const grouped = async (narrow: (q: typeof inWindow) => typeof inWindow): Promise<SelectedActor[]> => {
      const rows = await narrow(inWindow)
        .select((eb) => ['accessor', eb.fn.countAll<number | string>().as('events')])
        .groupBy('accessor')
        .execute();
      return rows.map((r) => ({ accessor: r.accessor, events: Number(r.events) }));
    };
    const byAccessors = async (accessors: readonly string[]): Promise<SelectedActor[]> =>
      accessors.length === 0
        ? []
        : (
            await chunked([...new Set(accessors)], (subset) =>
              grouped((q) => q.where('accessor', 'in', subset)),
            )
          ).flat();
    switch (selector.kind) {
      case 'accessors':
        return byAccessors(selector.accessors);
      case 'token': {
        const carrying = await this.eventsCarryingHashes(selector.token_hashes);
        const users = carrying
          .filter((e) => e.time >= since && e.time <= until)
          .flatMap((e) => (e.accessor ? [e.accessor] : []));
        return byAccessors([...selector.accessors, ...users]);
      }
      case 'entity':
        return grouped((q) => q.where('entity_id', '=', selector.entity_id));
      case 'display-name':
        return grouped((q) => q.where('display_name', '=', selector.display_name));
      case 'role': {
        const mount = selector.mount.replace(/^auth\//, '').replace(/\/+$/, '');
        // Token display names start with the auth mount's path, slashes as dashes (approle, userpass-alice).
        const prefix = mount.replace(/\//g, '-');
        const candidates = await inWindow
          .select(['accessor', 'mount_point', 'display_name', 'metadata'])
          .where(
            'metadata',
            'like', // LIKE wildcards in the name become one-character wildcards: the code below compares exactly.
            `%${JSON.stringify(selector.role).replace(/[%_\\]/g, '_')}%`,
          )
          .where('accessor', 'is not', null)
          .execute();
        const accessors = candidates.flatMap((row) => {
          const metadata = parseMetadata(row.metadata);
          const role = metadata['role_name'] ?? metadata['role'] ?? metadata['username'];
          const onMount =
            row.mount_point === `auth/${mount}/` ||
            row.display_name === prefix ||
            (row.display_name?.startsWith(`${prefix}-`) ?? false);
          return role === selector.role && onMount && row.accessor ? [row.accessor] : [];
        });
        return byAccessors(accessors);
      }
      case 'address': {
        const addresses = await inWindow
          .select('remote_address')
          .distinct()
          .where('remote_address', 'is not', null)
          .execute();
        const matching = addresses.flatMap((r) =>
          r.remote_address && selector.matches(r.remote_address) ? [r.remote_address] : [],
        );
        if (matching.length === 0) return [];
        return (
          await chunked(matching, (subset) => grouped((q) => q.where('remote_address', 'in', subset)))
        ).flat();
      }
    }
  }

  /**
   * Every event that carried one of the given audit HMACs (`hmac-sha256:<hex>`), oldest first,
   * found by their keys (hmac-key.ts), which full strings stored before keys contain too. The keys
   * are hex, so they hold no LIKE wildcards; a full scan, as a leak can be anywhere in time.
   */
  async eventsCarryingHashes(hashes: readonly string[]): Promise<AnalysisEvent[]> {
    const wanted = [...new Set(hashes.filter((h) => /^hmac-sha256:[0-9a-f]+$/.test(h)).map(hmacKey))];
    if (wanted.length === 0) return [];
    const rows = await this.db
      .selectFrom('audit_events')
      .select(EVENT_COLUMNS)
      .where((eb) => eb.or(wanted.map((key) => eb('hmac_values', 'like', `%${key}%`))))
      .orderBy('time')
      .orderBy('id')
      .execute();
    return rows.map(toEvent);
  }

  /**
   * The events a query selects, oldest first. On SQLite they come back packed as JSON (see
   * `packed`): a busy day has tens of thousands of root-token calls or failures.
   */
  private async eventsOf(query: ReturnType<AuditAnalysisRepository['events']>): Promise<AnalysisEvent[]> {
    if (!this.sqlite) return (await query.execute()).map(toEvent);
    const rows = await this.packed<EventRow>(sql`${query}`, EVENT_COLUMNS);
    return rows.map(toEvent).sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id - b.id));
  }

  /**
   * Events of the window that the caller narrows further (errors, root policy, a path prefix). On
   * SQLite the window is kept off the time index (`+time`): with bound times and no statistics the
   * planner would walk every event of the day through it, where the partial index or the path range
   * that the caller's condition allows reads only the few rows it asks for.
   */
  private events(window: AnalysisWindow) {
    const time = this.sqlite ? sql<string>`+time` : sql.ref<string>('time');
    return this.db
      .selectFrom('audit_events')
      .select(EVENT_COLUMNS)
      .where(time, '>=', window.since)
      .where(time, '<=', window.until)
      .orderBy('time')
      .orderBy('id');
  }
}

/**
 * `path` starts with `prefix`, as a range so the path index serves it (LIKE would not on
 * PostgreSQL with a non-C collation, nor on SQLite where LIKE ignores case).
 */
function underPrefix(eb: ExpressionBuilder<Database, 'audit_events'>, prefix: string) {
  const upper = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  return eb.and([eb('path', '>=', prefix), eb('path', '<', upper)]);
}

async function chunked<T, R>(items: readonly T[], run: (subset: readonly T[]) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += IN_CHUNK)
    results.push(await run(items.slice(start, start + IN_CHUNK)));
  return results;
}

export interface EventRow extends Record<string, unknown> {
  id: number;
  time: string;
  type: string;
  request_id: string | null;
  operation: string | null;
  path: string | null;
  mount_point: string | null;
  mount_type: string | null;
  accessor: string | null;
  display_name: string | null;
  remote_address: string | null;
  error: string | null;
  policies: string;
  issued_token_ttl: number | string | null;
}

/** A row of EVENT_COLUMNS (and any further columns, kept as they are) as an AnalysisEvent. */
export function toEvent<R extends EventRow>(row: R): Omit<R, keyof AnalysisEvent> & AnalysisEvent {
  return {
    ...row,
    id: Number(row.id),
    policies: parsePolicies(row.policies),
    issued_token_ttl: row.issued_token_ttl === null ? null : Number(row.issued_token_ttl),
  };
}

function parsePolicies(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    // The column is written by sealwatch as a JSON array; anything else holds no policy names.
    return [];
  }
}

function parseMetadata(text: string | null): Record<string, string> {
  if (text === null) return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    return Object.fromEntries(
      Object.entries(value).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : [])),
    );
  } catch {
    // The column is written by sealwatch as a JSON object; anything else names no role.
    return {};
  }
}
