import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import { ROOT_POLICY, SUCCESSFUL_READ } from '../migrations/0003-audit-analysis.migration.js';
import type { Database } from '../schema.js';

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
export const PERMISSION_DENIED = 'permission denied';

/** SQLite caps bound parameters per statement; lists of accessors are looked up in chunks. */
const IN_CHUNK = 500;

/** Events read from each end of the window to tell whether accessors are HMAC'd. */
const ACCESSOR_SAMPLE = 2000;

const EVENT_COLUMNS = [
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
  constructor(private readonly db: Kysely<Database>) {}

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
    const rows = await this.events(window)
      .where('error', 'is not', null)
      .where('type', '=', 'response')
      .execute();
    return rows.map(toEvent);
  }

  /** Calls made with a token holding the root policy (request events, one per call). */
  async rootTokenRequests(window: AnalysisWindow): Promise<AnalysisEvent[]> {
    // The partial index audit_events_root's own condition, so the planner uses it.
    const rows = await this.events(window).where(ROOT_POLICY).where('type', '=', 'request').execute();
    return rows.map(toEvent);
  }

  /** Calls that change state under a path prefix (response events, so the outcome is known). */
  async writesUnder(window: AnalysisWindow, prefix: string): Promise<AnalysisEvent[]> {
    const rows = await this.events(window)
      .where((eb) => underPrefix(eb, prefix))
      .where('type', '=', 'response')
      .where('operation', 'in', ['create', 'update', 'delete'])
      .execute();
    return rows.map(toEvent);
  }

  /** Successful responses under a path prefix (e.g. token creations under auth/token/create). */
  async successesUnder(window: AnalysisWindow, prefix: string): Promise<AnalysisEvent[]> {
    const rows = await this.events(window)
      .where((eb) => underPrefix(eb, prefix))
      .where('type', '=', 'response')
      .where('error', 'is', null)
      .execute();
    return rows.map(toEvent);
  }

  /**
   * Successful reads per accessor and path in the window: one row per pair, counted in the
   * database. Which reads are secrets and whose tenant they are is decided by the caller, from the
   * templates configured now.
   */
  async readsByAccessor(window: AnalysisWindow, accessors?: readonly string[]): Promise<PathReads[]> {
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
        // Served by the covering partial index audit_events_reads, in group order: no sort, no
        // table. Rows without accessor or path are dropped below: an IS NOT NULL here makes SQLite
        // seek instead of scan, twice as slow.
        .where(SUCCESSFUL_READ)
        .where('time', '>=', window.since)
        .where('time', '<=', window.until);
      if (subset) q = q.where('accessor', 'in', subset);
      return q.groupBy(['accessor', 'path']).execute();
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
   * Who each accessor is (display name and policies, from its first stored event): one index seek
   * per accessor, so it is cheap for the few hundred tokens an aggregate rule singles out.
   */
  async accessorIdentities(
    accessors: readonly string[],
  ): Promise<{ accessor: string; display_name: string | null; policies: string[] }[]> {
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
    return rows
      .flat()
      .map((r) => ({
        accessor: r.accessor!,
        display_name: r.display_name,
        policies: parsePolicies(r.policies),
      }));
  }

  /** What each accessor did in the window: name, when, from where, how often it was refused. */
  async accessorActivity(window: AnalysisWindow, accessors: readonly string[]): Promise<AccessorActivity[]> {
    const summaries = await chunked(accessors, (subset) =>
      this.db
        .selectFrom('audit_events')
        .select((eb) => [
          'accessor',
          eb.fn.max('display_name').as('display_name'),
          eb.fn.min('time').as('first_seen'),
          eb.fn.max('time').as('last_seen'),
          eb.fn
            .sum<number | string>(
              eb
                .case()
                .when(eb.and([eb('type', '=', 'response'), eb('error', 'like', `%${PERMISSION_DENIED}%`)]))
                .then(1)
                .else(0)
                .end(),
            )
            .as('denied'),
        ])
        .where('accessor', 'in', subset)
        .where('time', '>=', window.since)
        .where('time', '<=', window.until)
        .groupBy('accessor')
        .execute(),
    );
    const addresses = await chunked(accessors, (subset) =>
      this.db
        .selectFrom('audit_events')
        .select((eb) => ['accessor', 'remote_address', eb.fn.min('time').as('first')])
        .where('accessor', 'in', subset)
        .where('time', '>=', window.since)
        .where('time', '<=', window.until)
        .where('remote_address', 'is not', null)
        .groupBy(['accessor', 'remote_address'])
        .execute(),
    );
    const byAccessor = new Map<string, { address: string; first: string }[]>();
    for (const row of addresses.flat()) {
      const list = byAccessor.get(row.accessor!) ?? [];
      list.push({ address: row.remote_address!, first: String(row.first) });
      byAccessor.set(row.accessor!, list);
    }
    return summaries.flat().map((r) => {
      const seen = byAccessor.get(r.accessor!) ?? [];
      return {
        accessor: r.accessor!,
        display_name: r.display_name,
        first_seen: String(r.first_seen),
        last_seen: String(r.last_seen),
        denied: Number(r.denied ?? 0),
        remote_addresses: seen.map((s) => s.address).sort(),
        first_address: [...seen].sort((a, b) => (a.first < b.first ? -1 : 1))[0]?.address ?? null,
      };
    });
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
   * Every event that carried one of the given audit HMACs (`hmac-sha256:<hex>`), oldest first. The
   * hashes are hex, so they hold no LIKE wildcards; a full scan, as a leak can be anywhere in time.
   */
  async eventsCarryingHashes(hashes: readonly string[]): Promise<AnalysisEvent[]> {
    const wanted = [...new Set(hashes)].filter((h) => /^hmac-sha256:[0-9a-f]+$/.test(h));
    if (wanted.length === 0) return [];
    const rows = await this.db
      .selectFrom('audit_events')
      .select(EVENT_COLUMNS)
      .where((eb) => eb.or(wanted.map((hash) => eb('hmac_values', 'like', `%${hash}%`))))
      .orderBy('time')
      .orderBy('id')
      .execute();
    return rows.map(toEvent);
  }

  private events(window: AnalysisWindow) {
    return this.db
      .selectFrom('audit_events')
      .select(EVENT_COLUMNS)
      .where('time', '>=', window.since)
      .where('time', '<=', window.until)
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

function toEvent(row: {
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
}): AnalysisEvent {
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
    return [];
  }
}
