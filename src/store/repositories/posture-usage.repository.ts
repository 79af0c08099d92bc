import { sql, type CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { SqliteReader } from '../sqlite-reader.js';
import type { AnalysisWindow } from './audit-analysis.repository.js';

/** Secret-ID issuances of one AppRole role path (`auth/approle/role/ci/secret-id`), wrapped or not. */
export interface SecretIdIssuances {
  path: string;
  wrapped: number;
  unwrapped: number;
  last_unwrapped: string | null;
}

/** Successful sensitive reads (tenant paths, `…/creds/…`) by one caller identity, wrapped or not. */
export interface SensitiveReads {
  mount_point: string | null;
  /** The caller's auth metadata (`{"role_name":"ci"}`), as stored. */
  metadata: Record<string, string> | null;
  display_name: string | null;
  wrapped: number;
  unwrapped: number;
}

const WRAPPED = sql<number>`case when wrap_info is null then 0 else 1 end`;

/**
 * What posture's usage checks ask of the audit store: which policies requests carried, which mounts
 * were read or written, and how often secrets left the server wrapped. Each is one grouped query
 * over the window, so a million events cost one pass, not a million rows in JavaScript.
 */
export class PostureUsageRepository {
  constructor(
    private readonly db: Kysely<Database>,
    /** Runs the grouped queries off the event loop (a SQLite file); absent, Kysely runs them. */
    private readonly reader?: SqliteReader,
  ) {}

  private rows<R>(query: Compilable<R>): Promise<R[]> {
    return this.reader ? this.reader.all(query.compile()) : query.execute();
  }

  /** The distinct policy sets (JSON arrays, as stored) of the calls made in the window. */
  async policySets(window: AnalysisWindow): Promise<string[][]> {
    const rows = await this.rows(
      this.db
        .selectFrom('audit_events')
        .where('time', '>=', window.since)
        .where('time', '<=', window.until)
        .where('type', '=', 'request')
        .select('policies')
        .distinct(),
    );
    return rows.map((r) => JSON.parse(r.policies) as string[]);
  }

  /**
   * The mounts (`kv/`, `auth/approle/`) with at least one successful read, list, create, update,
   * patch or delete in the window. A call's path starts with its mount's, so each mount is one range
   * of the (path, type, operation) index, searched until the first such call: an unused mount costs
   * one seek, a busy one a few rows, never a pass over the window.
   */
  async usedMounts(window: AnalysisWindow, mounts: readonly string[]): Promise<Set<string>> {
    const used = new Set<string>();
    for (const mount of mounts) {
      const upper = mount.slice(0, -1) + String.fromCharCode(mount.charCodeAt(mount.length - 1) + 1);
      const row = await this.db
        .selectFrom('audit_events')
        .where('path', '>=', mount)
        .where('path', '<', upper)
        .where('type', '=', 'response')
        .where('operation', 'in', ['read', 'list', 'create', 'update', 'patch', 'delete'])
        // `time || ''` keeps SQLite's planner off the time index: with a window of the whole store
        // it would walk every event of the window instead of seeking the mount's path range.
        .where(sql<string>`time || ''`, '>=', window.since)
        .where(sql<string>`time || ''`, '<=', window.until)
        .where('error', 'is', null)
        .select('id')
        .limit(1)
        .executeTakeFirst();
      if (row) used.add(mount);
    }
    return used;
  }

  /** Successful AppRole secret-ID issuances (`auth/<mount>/role/<role>/[custom-]secret-id`) per role path. */
  async secretIdIssuances(window: AnalysisWindow): Promise<SecretIdIssuances[]> {
    const rows = await this.rows(
      this.db
        .selectFrom('audit_events')
        .where('time', '>=', window.since)
        .where('time', '<=', window.until)
        .where('path', '>=', 'auth/')
        .where('path', '<', 'auth0')
        .where('type', '=', 'response')
        .where('error', 'is', null)
        .where('operation', 'in', ['create', 'update'])
        .where((eb) =>
          eb.or([
            eb('path', 'like', 'auth/%/role/%/secret-id'),
            eb('path', 'like', 'auth/%/role/%/custom-secret-id'),
          ]),
        )
        .select([
          'path',
          sql<number>`sum(${WRAPPED})`.as('wrapped'),
          sql<number>`sum(1 - ${WRAPPED})`.as('unwrapped'),
          sql<string | null>`max(case when wrap_info is null then time end)`.as('last_unwrapped'),
        ])
        .groupBy('path'),
    );
    return rows.map((r) => ({
      path: r.path!,
      wrapped: Number(r.wrapped),
      unwrapped: Number(r.unwrapped),
      last_unwrapped: r.last_unwrapped,
    }));
  }

  /**
   * Successful reads of tenant paths (the tenant stored at ingest) and of dynamic credentials
   * (`…/creds/…`), per mount and caller identity (auth metadata, display name), wrapped or not.
   */
  async sensitiveReads(window: AnalysisWindow): Promise<SensitiveReads[]> {
    const rows = await this.rows(
      this.db
        .selectFrom('audit_events')
        .where('time', '>=', window.since)
        .where('time', '<=', window.until)
        .where('type', '=', 'response')
        .where('operation', '=', 'read')
        .where('error', 'is', null)
        .where((eb) => eb.or([eb('tenant', 'is not', null), eb('path', 'like', '%/creds/%')]))
        .select([
          'mount_point',
          'metadata',
          'display_name',
          sql<number>`sum(${WRAPPED})`.as('wrapped'),
          sql<number>`sum(1 - ${WRAPPED})`.as('unwrapped'),
        ])
        .groupBy(['mount_point', 'metadata', 'display_name']),
    );
    return rows.map((r) => ({
      mount_point: r.mount_point,
      metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, string>),
      display_name: r.display_name,
      wrapped: Number(r.wrapped),
      unwrapped: Number(r.unwrapped),
    }));
  }
}

/** A Kysely query: compiled for the reader thread, or executed in place. */
export interface Compilable<R> {
  compile(): CompiledQuery<R>;
  execute(): Promise<R[]>;
}
