import { newestVerifiedSnapshot } from '../backup/newest-verified.js';
import type { Store } from '../store/store.js';
import { observe } from './poll.js';
import type { WatchRuleSettings } from './rule-settings.js';
import type { AuthFailureSample, Observed, SnapshotSample } from './sample.js';

export interface StoreSampleDeps {
  store: Pick<Store, 'backups' | 'auditLogins'>;
  settings: Pick<WatchRuleSettings, 'snapshotMaxAgeMs' | 'authFailuresWithinMs' | 'authFailuresBaselineMs'>;
  /** A store that does not answer costs this, once: a failure or a timeout is "could not look". */
  timeoutMs: number;
}

/**
 * What the rules read from the store each cycle: the newest verified snapshot (only when a
 * schedule is configured) and the failed logins of the current and baseline windows.
 */
export async function sampleStore(
  deps: StoreSampleDeps,
  now: Date,
): Promise<{
  snapshot: Observed<SnapshotSample> | undefined;
  authFailures: Observed<AuthFailureSample>;
}> {
  const { settings } = deps;
  const at = now.getTime();
  const maxAgeMs = settings.snapshotMaxAgeMs;
  const iso = (ms: number) => new Date(ms).toISOString();
  const [snapshot, authFailures] = await Promise.all([
    maxAgeMs === undefined
      ? undefined
      : observe(deps.timeoutMs, async (): Promise<SnapshotSample> => {
          const found = await newestVerifiedSnapshot({ store: deps.store });
          return {
            maxAgeMs,
            newest: found && {
              id: found.backup.id,
              takenAt: found.backup.taken_at,
              file: found.backup.file,
              verifiedAt: found.verification.finished_at,
            },
          };
        }),
    observe(deps.timeoutMs, async (): Promise<AuthFailureSample> => {
      const split = at - settings.authFailuresWithinMs;
      const [recent, baseline] = await Promise.all([
        deps.store.auditLogins.countFailed(iso(split), iso(at + 1)),
        deps.store.auditLogins.countFailed(iso(split - settings.authFailuresBaselineMs), iso(split)),
      ]);
      return {
        recent,
        baseline,
        withinMs: settings.authFailuresWithinMs,
        baselineMs: settings.authFailuresBaselineMs,
      };
    }),
  ]);
  return { snapshot, authFailures };
}
