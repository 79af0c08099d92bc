import type { SnapshotBaseline, VerificationCheck } from '../../store/repositories/backup.repository.js';

export type BaselineCounts = Pick<SnapshotBaseline, 'policies' | 'auth_mounts' | 'secret_mounts'>;

/**
 * What a running cluster lost against a snapshot's baseline: fewer policies, auth mounts or secret
 * mounts than recorded, or sampled KV versions that no longer read back. More than recorded is
 * newer data, not loss. Answers what is missing, by check id; empty when nothing is.
 */
export function missingAgainstBaseline(
  recorded: BaselineCounts,
  now: BaselineCounts,
  kvSample: VerificationCheck | undefined,
): Record<string, string> {
  const missing: Record<string, string> = {};
  const counts: [keyof BaselineCounts, string][] = [
    ['policies', 'ACL policies'],
    ['auth_mounts', 'auth mounts'],
    ['secret_mounts', 'secret mounts'],
  ];
  for (const [key, what] of counts)
    if (now[key] < recorded[key])
      missing[key] = `${now[key]} ${what}, ${recorded[key]} recorded when the snapshot was taken`;
  if (kvSample && !kvSample.ok) missing['kv_sample'] = kvSample.detail;
  return missing;
}
