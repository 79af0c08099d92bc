import type { Generated } from 'kysely';

/**
 * Every table sealwatch keeps. Timestamps are ISO-8601 UTC strings (sortable, the same on SQLite
 * and PostgreSQL); booleans are 0/1 integers for the same reason.
 */
export interface Database {
  sealwatch_meta: SealwatchMetaTable;
  node_observations: NodeObservationTable;
}

export interface SealwatchMetaTable {
  key: string;
  value: string;
}

export interface NodeObservationTable {
  id: Generated<number>;
  observed_at: string;
  address: string;
  reachable: number;
  initialized: number | null;
  sealed: number | null;
  is_leader: number;
  version: string | null;
  seal_type: string | null;
  error: string | null;
}
