import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

export interface NodeObservation {
  observed_at: string;
  address: string;
  reachable: boolean;
  initialized: boolean | null;
  sealed: boolean | null;
  is_leader: boolean;
  version: string | null;
  seal_type: string | null;
  error: string | null;
  /** The seal's key shares and threshold the node reported (null when it did not say). */
  key_shares: number | null;
  key_threshold: number | null;
}

/** The newest share count `status` saw on one of some nodes. */
export interface ObservedShares {
  address: string;
  observed_at: string;
  shares: number;
  threshold: number;
}

const bit = (value: boolean | null | undefined) =>
  value === null || value === undefined ? null : value ? 1 : 0;
const bool = (value: number | null) => (value === null ? null : value === 1);

/** What `status` saw of each node, over time: when did this node seal, who led before. */
export class NodeObservationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async record(observations: readonly NodeObservation[]): Promise<void> {
    if (observations.length === 0) return;
    await this.db
      .insertInto('node_observations')
      .values(
        observations.map((o) => ({
          observed_at: o.observed_at,
          address: o.address,
          reachable: o.reachable ? 1 : 0,
          initialized: bit(o.initialized),
          sealed: bit(o.sealed),
          is_leader: o.is_leader ? 1 : 0,
          version: o.version,
          seal_type: o.seal_type,
          error: o.error,
          key_shares: o.key_shares,
          key_threshold: o.key_threshold,
        })),
      )
      .execute();
  }

  /** Observations of one node, newest first. */
  async history(address: string, limit = 100): Promise<NodeObservation[]> {
    const rows = await this.db
      .selectFrom('node_observations')
      .selectAll()
      .where('address', '=', address)
      .orderBy('observed_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      observed_at: r.observed_at,
      address: r.address,
      reachable: r.reachable === 1,
      initialized: bool(r.initialized),
      sealed: bool(r.sealed),
      is_leader: r.is_leader === 1,
      version: r.version,
      seal_type: r.seal_type,
      error: r.error,
      key_shares: r.key_shares === null ? null : Number(r.key_shares),
      key_threshold: r.key_threshold === null ? null : Number(r.key_threshold),
    }));
  }

  /** The newest key-share count observed on any of `addresses`, if status ever saw one. */
  async latestShares(addresses: readonly string[]): Promise<ObservedShares | undefined> {
    if (addresses.length === 0) return undefined;
    const row = await this.db
      .selectFrom('node_observations')
      .select(['address', 'observed_at', 'key_shares', 'key_threshold'])
      .where('address', 'in', [...addresses])
      .where('key_shares', 'is not', null)
      .where('key_threshold', 'is not', null)
      .orderBy('observed_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row || row.key_shares === null || row.key_threshold === null) return undefined;
    return {
      address: row.address,
      observed_at: row.observed_at,
      shares: Number(row.key_shares),
      threshold: Number(row.key_threshold),
    };
  }

  /** When the node was last seen unsealed, if ever: tells how long a sealed node has been down. */
  async lastUnsealedAt(address: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('node_observations')
      .select('observed_at')
      .where('address', '=', address)
      .where('sealed', '=', 0)
      .orderBy('observed_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.observed_at;
  }
}
