import { existsSync, mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type MigrationProvider } from 'kysely';
import type { Pool } from 'pg';
import { redactUrl } from '../config/load.js';
import { SealwatchError, errorMessage } from '../errors.js';
import { migrations, type StoreDialect } from './migrations/index.js';
import { openSqliteConnection } from './sqlite-connection.js';
import { AlertRepository } from './repositories/alerts.repository.js';
import { AuditAnalysisRepository } from './repositories/audit-analysis.repository.js';
import { AuditEventRepository } from './repositories/audit-events.repository.js';
import { AuditLoginRepository } from './repositories/audit-logins.repository.js';
import { BackupRepository } from './repositories/backup.repository.js';
import { IncidentRepository } from './repositories/incident.repository.js';
import { NotificationRepository } from './repositories/notification.repository.js';
import { NodeObservationRepository } from './repositories/node-observations.repository.js';
import { PostureBaselineRepository } from './repositories/posture-baseline.repository.js';
import { PostureUsageRepository } from './repositories/posture-usage.repository.js';
import { RevokedAccessorRepository } from './repositories/revoked-accessors.repository.js';
import { RotationRepository } from './repositories/rotation.repository.js';
import { WatchLeaseRepository } from './repositories/watch-lease.repository.js';
import type { Database } from './schema.js';
import { SqliteReader } from './sqlite-reader.js';

export class StoreError extends SealwatchError {
  constructor(message: string, options: ConstructorParameters<typeof SealwatchError>[2] = {}) {
    super('store_failed', message, options);
  }
}

/**
 * The store: every table sealwatch keeps, behind repositories. SQLite (one file, WAL) by default;
 * PostgreSQL when the URL says postgres:// — that is what several sealwatch instances share.
 */
export class Store {
  readonly observations: NodeObservationRepository;
  readonly rotations: RotationRepository;
  readonly auditEvents: AuditEventRepository;
  /** Read-side queries of breach assessment and leak tracing. */
  readonly auditAnalysis: AuditAnalysisRepository;
  /** Login attempts, failed and successful (the auth-failures runbook). */
  readonly auditLogins: AuditLoginRepository;
  /** The incident journal of playbooks (`incident list|show|resume|report`). */
  readonly incidents: IncidentRepository;
  /** Delivery records of tenant notices, per incident, tenant and channel. */
  readonly notifications: NotificationRepository;
  /** Raft snapshots taken and the restore drills run on them (`backup snapshot|verify`). */
  readonly backups: BackupRepository;
  /** `watch` alerts, silences and the notice outbox (`alerts list|show|ack|silence`). */
  readonly alerts: AlertRepository;
  /** Leases with fencing: which `watch` instance notifies and acts (high availability). */
  readonly leases: WatchLeaseRepository;
  /** Findings kept by `posture baseline` for `posture diff`. */
  readonly postureBaselines: PostureBaselineRepository;
  /** Policies, mounts and wrapping as the audit window shows them (posture's usage checks). */
  readonly postureUsage: PostureUsageRepository;
  readonly revokedAccessors: RevokedAccessorRepository;

  private constructor(
    readonly db: Kysely<Database>,
    readonly dialect: StoreDialect,
    readonly location: string,
    /** The raw SQLite handle, for bulk paths that Kysely would slow down (SQLite only). */
    readonly sqlite: SQLite.Database | undefined,
    readonly pool: Pool | undefined,
    /** Grouped reads over the audit events, off the event loop (SQLite files only). */
    private readonly reader: SqliteReader | undefined = undefined,
  ) {
    this.observations = new NodeObservationRepository(db);
    this.rotations = new RotationRepository(db);
    this.auditEvents = new AuditEventRepository(db, sqlite);
    this.auditAnalysis = new AuditAnalysisRepository(db, sqlite);
    this.auditLogins = new AuditLoginRepository(db, reader);
    this.incidents = new IncidentRepository(db);
    this.notifications = new NotificationRepository(db);
    this.backups = new BackupRepository(db);
    this.leases = new WatchLeaseRepository(db, dialect);
    this.alerts = new AlertRepository(db, this.leases);
    this.postureBaselines = new PostureBaselineRepository(db);
    this.postureUsage = new PostureUsageRepository(db, reader);
    this.revokedAccessors = new RevokedAccessorRepository(db);
  }

  static async open(url: string): Promise<Store> {
    const store = isPostgresUrl(url) ? await openPostgres(url) : openSqlite(url);
    try {
      await store.migrate();
      await store.auditEvents.restoreDeferredIndexes();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  private static create(
    db: Kysely<Database>,
    dialect: StoreDialect,
    location: string,
    sqlite?: SQLite.Database,
    pool?: Pool,
  ): Store {
    const reader =
      sqlite && location !== '' && location !== ':memory:' && !location.startsWith('file:')
        ? new SqliteReader(location)
        : undefined;
    return new Store(db, dialect, location, sqlite, pool, reader);
  }

  static fromSqlite(file: string, handle: SQLite.Database): Store {
    return Store.create(
      new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) }),
      'sqlite',
      file,
      handle,
    );
  }

  static fromPostgres(url: string, pool: Pool): Store {
    return Store.create(
      new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
      'postgres',
      url,
      undefined,
      pool,
    );
  }

  async migrate(): Promise<void> {
    const provider: MigrationProvider = { getMigrations: async () => migrations(this.dialect) };
    const migrator = new Migrator({
      db: this.db,
      provider,
      migrationTableName: 'sealwatch_migrations',
      migrationLockTableName: 'sealwatch_migrations_lock',
    });
    let { error, results } = await migrator.migrateToLatest();
    // Two processes opening a new SQLite store at once: the second one's transaction loses the
    // race ("database is locked", a table that now exists). Once the first has committed, there
    // is nothing left to migrate.
    for (let attempt = 1; error && this.dialect === 'sqlite' && attempt <= 3; attempt++) {
      await sleep(150 * attempt);
      ({ error, results } = await migrator.migrateToLatest());
    }
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new StoreError(
        `store ${redactUrl(this.location)}: migration ${failed ?? ''} failed: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    await this.reader?.close();
    await this.db.destroy();
  }
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

function openSqlite(file: string): Store {
  try {
    ensureDirectory(dirname(file));
    return Store.fromSqlite(file, openSqliteConnection(file));
  } catch (error) {
    throw new StoreError(`store ${file} cannot be opened: ${errorMessage(error)}`, { cause: error });
  }
}

async function openPostgres(url: string): Promise<Store> {
  // Loaded here: a SQLite store (the default) never pays for the PostgreSQL driver.
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 });
  // An idle connection that the server drops (a restart, a failover) is discarded by the pool; the
  // next query connects anew or fails with its own error. Unhandled, this event would end the process.
  pool.on('error', () => undefined);
  // The pool listens for errors on idle connections only. A connection the server ends while a
  // query runs on it (a store restart under `watch`) fails that query, whose caller sees the error;
  // the client's own 'error' event, unheard while checked out, would otherwise end the process.
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end();
    throw new StoreError(`store ${redactUrl(url)} cannot be reached: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  return Store.fromPostgres(url, pool);
}

/**
 * Creates a directory and its missing parents one level at a time. Node's recursive mkdirSync
 * never returns for some paths (under /proc it loops forever); here the first level that cannot be
 * made fails at once with its own error.
 */
function ensureDirectory(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) ensureDirectory(parent);
  mkdirSync(dir);
}
