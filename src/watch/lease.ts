import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { SealwatchError, errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import {
  LeaseLostError,
  type LeaseFence,
  type LeaseState,
} from '../store/repositories/watch-lease.repository.js';
import type { Store } from '../store/store.js';

/** The lease every `watch` sharing a store competes for. */
export const WATCH_LEASE = 'watch';

export interface WatchLeaseDeps {
  store: Pick<Store, 'leases'>;
  logger: Logger;
  /** How long a holder keeps the lease without renewing it; takeover happens within about this. */
  ttlMs: number;
  /** Told on every change of role (the sealwatch_watch_leader metric). */
  onRoleChange?: (leader: boolean) => void;
  /** This process's name in the lease row (default host:pid:random). */
  holder?: string;
}

export interface WatchLeaseStatus {
  role: 'leader' | 'standby';
  holder: string;
  /** Who holds the lease as last read (null before the first read). */
  leader: string | null;
  epoch: number | null;
  /** Why the last attempt to take or renew the lease failed. */
  error: string | null;
}

/**
 * High availability of `watch`: one lease row in the shared store, with a holder, an expiry and a
 * fencing epoch. Every instance tries to take or renew it every `ttl / 4`; the holder evaluates,
 * commits, notifies and acts, the others stand by (they keep ingesting the audit stream and serve
 * /metrics). Every commit of the holder is fenced by the epoch inside its transaction, and each
 * message it sends is preceded by a check that the lease still runs for a third of its TTL, so a
 * holder paused past its lease cannot commit, and cannot send unless the pause fell between that
 * check and the send (receivers deduplicate on the notice's stable id).
 */
export function createWatchLease(deps: WatchLeaseDeps) {
  const holder = deps.holder ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  let state: LeaseState | undefined;
  let leader = false;
  let error: string | null = null;

  const setLeader = (next: boolean) => {
    if (next === leader) return;
    leader = next;
    deps.logger.info(
      { holder, epoch: state?.epoch, leader: state?.holder },
      next ? 'took the watch lease: evaluating and notifying' : 'standing by: another watch holds the lease',
    );
    deps.onRoleChange?.(next);
  };

  /** One attempt to take or renew the lease. A store that does not answer changes no role. */
  async function tick(): Promise<boolean> {
    try {
      state = await deps.store.leases.acquire(WATCH_LEASE, holder, deps.ttlMs);
      error = null;
      setLeader(state.holder === holder);
    } catch (e) {
      // The store's own fault (watch-store-unreachable) reports it; the role stays as it was
      // until the store answers, and fenced writes fail meanwhile anyway.
      error = errorMessage(e);
      deps.logger.warn({ err: e }, 'the watch lease could not be taken or renewed');
    }
    return leader;
  }

  /** What a fenced write carries; `marginMs` asks the lease to run at least that long still. */
  const fence = (marginMs = 0): LeaseFence | undefined =>
    leader && state ? { name: WATCH_LEASE, holder, epoch: state.epoch, marginMs } : undefined;

  /** Lost it: a fenced write was refused. */
  function lost(e: unknown): boolean {
    if (!(e instanceof LeaseLostError)) return false;
    error = e.message;
    setLeader(false);
    return true;
  }

  /** Gives the lease up at a clean stop, so a standby takes over at once. */
  async function release(): Promise<void> {
    if (!leader || !state) return;
    const epoch = state.epoch;
    setLeader(false);
    await deps.store.leases
      .release(WATCH_LEASE, holder, epoch)
      // Not released: the lease runs out by itself within its TTL.
      .catch((e: unknown) => deps.logger.warn({ err: e }, 'the watch lease could not be released'));
  }

  /**
   * A fenced write. When the lease ran out while the store was away and nobody else took it
   * meanwhile (taking it again raises the epoch by exactly one), it is taken again and the write
   * made with the new epoch: a lone watch keeps what it held in memory through a store outage.
   * Otherwise LeaseLostError, and this process stands by.
   */
  async function fenced<T>(write: (fence: LeaseFence | undefined) => Promise<T>): Promise<T> {
    const before = fence();
    try {
      return await write(before);
    } catch (error) {
      if (!(error instanceof LeaseLostError) || !before) throw error;
      if (await tick()) {
        const again = fence();
        if (again && again.epoch === before.epoch + 1) return await write(again);
      }
      lost(error);
      throw error;
    }
  }

  return {
    holder,
    tick,
    fenced,
    fence,
    lost,
    isLeader: () => leader,
    /** Before a side effect outside the store: throws LeaseLostError unless a third of the TTL is left. */
    async checkBeforeSending(): Promise<void> {
      const f = fence(Math.floor(deps.ttlMs / 3));
      if (!f) throw new LeaseLostError({ name: WATCH_LEASE, holder, epoch: state?.epoch ?? 0, marginMs: 0 });
      try {
        await deps.store.leases.check(f);
      } catch (e) {
        lost(e);
        throw e;
      }
    },
    /** Takes or renews the lease every ttl/4 until the signal, then gives it up. */
    async keep(signal: AbortSignal): Promise<void> {
      const every = Math.max(200, Math.floor(deps.ttlMs / 4));
      while (!signal.aborted) {
        const started = Date.now();
        await tick();
        // The abort's rejection is the stop itself; the loop checks the signal next.
        await sleep(Math.max(0, every - (Date.now() - started)), undefined, { signal }).catch(
          () => undefined,
        );
      }
      await release();
    },
    release,
    status: (): WatchLeaseStatus => ({
      role: leader ? 'leader' : 'standby',
      holder,
      leader: state && state.expiresAtMs > state.nowMs ? state.holder : null,
      epoch: state?.epoch ?? null,
      error,
    }),
  };
}

export type WatchLease = ReturnType<typeof createWatchLease>;

/** The one watch of a SQLite store is already running elsewhere. */
export class WatchAlreadyRunningError extends SealwatchError {
  constructor(holder: string | null, location: string) {
    super(
      'watch_already_running',
      `another watch (${holder ?? 'unknown'}) holds the lease of the SQLite store ${location}: ` +
        'run one watch per SQLite store, or share a PostgreSQL store between several for high availability',
    );
  }
}

/**
 * SQLite serves one watch: the lease is taken as on PostgreSQL, but a second instance refuses to
 * start instead of standing by. It waits one TTL first, so a restart after a crash (whose lease
 * still runs) starts once that lease has run out.
 */
export async function takeSoleLease(lease: WatchLease, ttlMs: number, location: string): Promise<void> {
  const deadline = Date.now() + ttlMs + Math.floor(ttlMs / 4);
  while (!(await lease.tick())) {
    if (Date.now() > deadline) throw new WatchAlreadyRunningError(lease.status().leader, location);
    await sleep(Math.max(200, Math.floor(ttlMs / 8)));
  }
}
