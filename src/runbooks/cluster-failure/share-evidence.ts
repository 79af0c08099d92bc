import { runbookIncidentType, type RunbookDeps } from '../runbook.js';

/** The cluster's own key-share count, as sealwatch recorded it before (never a default). */
export interface RecordedShares {
  shares: number;
  threshold: number;
  /** Where it was recorded, in words: "backup b-… taken 2026-…". */
  source: string;
}

/** A restore this runbook started that has not finished: its temporary 1-of-1 key may be on a node. */
export interface UnfinishedRestore {
  incident: string;
  status: string;
  started_at: string | null;
}

/** Recorded snapshots looked through for a share count (newest first). */
const BACKUPS_LOOKED_AT = 50;
/** Incidents looked through for an unfinished restore (newest first). */
const INCIDENTS_LOOKED_AT = 100;

/**
 * The cluster's share count as last recorded: by `backup snapshot` (the newest snapshot taken
 * through one of the addresses configured now) or by `status` (the newest observation of one of
 * them), whichever is newer. Not matched by cluster id: a temporary initialisation is a new
 * cluster id, and it is exactly what this evidence is for.
 */
export async function recordedShares(
  deps: Pick<RunbookDeps, 'store' | 'vault'>,
): Promise<RecordedShares | undefined> {
  const here = new Set(deps.vault.addresses);
  const [backups, observed] = await Promise.all([
    deps.store.backups.list(BACKUPS_LOOKED_AT),
    deps.store.observations.latestShares(deps.vault.addresses),
  ]);
  const backup = backups.find(
    (b) =>
      b.key_shares !== null &&
      b.key_threshold !== null &&
      (b.leader_address === null || here.has(b.leader_address)),
  );
  const fromBackup =
    backup && backup.key_shares !== null && backup.key_threshold !== null
      ? {
          at: backup.taken_at,
          shares: backup.key_shares,
          threshold: backup.key_threshold,
          source: `backup ${backup.id} taken ${backup.taken_at}`,
        }
      : undefined;
  const fromStatus = observed && {
    at: observed.observed_at,
    shares: observed.shares,
    threshold: observed.threshold,
    source: `sealwatch status at ${observed.observed_at} (${observed.address})`,
  };
  const newest = [fromBackup, fromStatus]
    .filter((r) => r !== undefined)
    .sort((a, b) => b.at.localeCompare(a.at))[0];
  return newest && { shares: newest.shares, threshold: newest.threshold, source: newest.source };
}

/** A cluster-failure incident whose restore step started and neither finished nor was skipped. */
export async function unfinishedRestore(
  deps: Pick<RunbookDeps, 'store'>,
): Promise<UnfinishedRestore | undefined> {
  const type = runbookIncidentType('cluster-failure');
  for (const incident of await deps.store.incidents.list(INCIDENTS_LOOKED_AT)) {
    if (incident.type !== type || incident.state === 'completed') continue;
    const restore = (await deps.store.incidents.steps(incident.id)).find(
      (s) => s.step_id === 'restore-snapshot',
    );
    if (restore && (restore.status === 'running' || restore.status === 'failed'))
      return { incident: incident.id, status: restore.status, started_at: restore.started_at };
  }
  return undefined;
}
