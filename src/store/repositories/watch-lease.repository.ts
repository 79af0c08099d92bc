import { sql, type Kysely, type Transaction } from 'kysely';
import { SealwatchError } from '../../errors.js';
import type { StoreDialect } from '../migrations/index.js';
import type { Database } from '../schema.js';

/** Who holds a lease, in which fencing epoch, until when (ms of the database's clock). */
export interface LeaseState {
  holder: string;
  epoch: number;
  acquiredAtMs: number;
  expiresAtMs: number;
  /** The database's clock when this was read. */
  nowMs: number;
}

/** What a fenced write proves it still holds: the lease, the holder and the epoch it was given. */
export interface LeaseFence {
  name: string;
  holder: string;
  epoch: number;
  /** The lease must still run this long after the write (ms); 0 for "not expired". */
  marginMs: number;
}

/** A fenced write refused: another process holds the lease now, or it ran out. */
export class LeaseLostError extends SealwatchError {
  constructor(fence: LeaseFence) {
    super(
      'lease_lost',
      `the ${fence.name} lease (epoch ${fence.epoch}) is no longer held by ${fence.holder}: nothing written`,
    );
  }
}

/**
 * Leases with fencing (watch high availability). Every time is the database's clock, never the
 * caller's: processes on hosts with skewed clocks agree on when a lease ends.
 */
export class WatchLeaseRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Milliseconds since the epoch by the database's clock (the wall clock, not the transaction's start). */
  private nowMs() {
    return this.dialect === 'postgres'
      ? sql<string>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
      : sql<string>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
  }

  /**
   * Takes the lease when it is free or expired, renews it when `holder` has it: one statement, so
   * two processes racing for a free lease cannot both win. A new holder (or the same one after its
   * lease ran out) gets the next epoch. Answers who holds it afterwards.
   */
  async acquire(name: string, holder: string, ttlMs: number): Promise<LeaseState> {
    const now = this.nowMs();
    await sql`
      insert into watch_leases (name, holder, epoch, acquired_at_ms, expires_at_ms)
      values (${name}, ${holder}, 1, ${now}, ${now} + ${ttlMs})
      on conflict (name) do update set
        epoch = case when watch_leases.holder = excluded.holder and watch_leases.expires_at_ms > ${now}
                     then watch_leases.epoch else watch_leases.epoch + 1 end,
        acquired_at_ms = case when watch_leases.holder = excluded.holder and watch_leases.expires_at_ms > ${now}
                     then watch_leases.acquired_at_ms else excluded.acquired_at_ms end,
        holder = excluded.holder,
        expires_at_ms = excluded.expires_at_ms
      where watch_leases.holder = excluded.holder or watch_leases.expires_at_ms <= ${now}
    `.execute(this.db);
    const state = await this.read(name);
    // The row exists now: this statement inserted it or found it there.
    if (!state) throw new SealwatchError('store_invalid', `the ${name} lease row is missing after taking it`);
    return state;
  }

  async read(name: string): Promise<LeaseState | undefined> {
    const row = await this.db
      .selectFrom('watch_leases')
      .select(['holder', 'epoch', 'acquired_at_ms', 'expires_at_ms', this.nowMs().as('now_ms')])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      holder: row.holder,
      epoch: Number(row.epoch),
      acquiredAtMs: Number(row.acquired_at_ms),
      expiresAtMs: Number(row.expires_at_ms),
      nowMs: Number(row.now_ms),
    };
  }

  /** Gives the lease up (a clean stop): the next instance takes it at once instead of after its expiry. */
  async release(name: string, holder: string, epoch: number): Promise<void> {
    await this.db
      .updateTable('watch_leases')
      .set({ expires_at_ms: 0 })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .where('epoch', '=', epoch)
      .execute();
  }

  /**
   * The fencing guard, inside the caller's transaction: it locks the lease row (an update), so a
   * process taking the lease over waits until this transaction ends, and it throws LeaseLostError
   * when the holder, the epoch or the time left no longer match. A paused old holder therefore
   * cannot commit after it lost the lease.
   */
  async guard(tx: Transaction<Database> | Kysely<Database>, fence: LeaseFence): Promise<void> {
    const result = await tx
      .updateTable('watch_leases')
      .set({ holder: fence.holder })
      .where('name', '=', fence.name)
      .where('holder', '=', fence.holder)
      .where('epoch', '=', fence.epoch)
      .where(sql<boolean>`expires_at_ms > ${this.nowMs()} + ${fence.marginMs}`)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) throw new LeaseLostError(fence);
  }

  /** The guard on its own (before a side effect outside the store, such as sending a message). */
  async check(fence: LeaseFence): Promise<void> {
    await this.db.transaction().execute((tx) => this.guard(tx, fence));
  }
}
