import type {
  BaselineKvPath,
  SnapshotBaseline,
  VerificationCheck,
} from '../store/repositories/backup.repository.js';
import type { VaultClient } from '../vault/client.js';
import type { MountInfo } from '../vault/types.js';

export type BaselineVault = Pick<VaultClient, 'listPolicies' | 'listAuthMounts' | 'listMounts' | 'kv'>;

export const DEFAULT_SAMPLE_SIZE = 20;
/** Leaves taken from one directory before moving on: spreads the sample over tenants. */
const PER_DIRECTORY = 3;

/**
 * What a restore of a snapshot taken now must show again: how many ACL policies, auth mounts and
 * secret mounts there are, and for a sample of KV v2 secrets (spread over every KV v2 mount, a few
 * per directory) the current version and its times. No value and no hash of a value is read.
 */
export async function takeBaseline(
  vault: BaselineVault,
  options: { sampleSize?: number } = {},
): Promise<SnapshotBaseline> {
  const [policies, auth, mounts] = await Promise.all([
    vault.listPolicies(),
    vault.listAuthMounts(),
    vault.listMounts(),
  ]);
  const kvMounts = kvV2Mounts(mounts);
  const size = options.sampleSize ?? DEFAULT_SAMPLE_SIZE;
  const sample: BaselineKvPath[] = [];
  for (const [i, mount] of kvMounts.entries()) {
    // What earlier mounts left unused goes to the later ones.
    const quota = Math.ceil((size - sample.length) / (kvMounts.length - i));
    sample.push(...(await sampleMount(vault, mount, quota)));
  }
  return {
    policies: policies.length,
    auth_mounts: Object.keys(auth).length,
    secret_mounts: Object.keys(mounts).length,
    kv_mounts: kvMounts,
    kv_sample: sample,
  };
}

function kvV2Mounts(mounts: Record<string, MountInfo>): string[] {
  return Object.entries(mounts)
    .filter(([, m]) => m.type === 'kv' && m.options?.['version'] === '2')
    .map(([path]) => path.replace(/\/+$/, ''))
    .sort();
}

/** Depth first, at most PER_DIRECTORY secrets per directory, until `quota` live secrets are found. */
async function sampleMount(vault: BaselineVault, mount: string, quota: number): Promise<BaselineKvPath[]> {
  const kv = vault.kv(mount);
  const found: BaselineKvPath[] = [];
  const walk = async (prefix: string): Promise<void> => {
    const keys = (await kv.list(prefix)).sort();
    let taken = 0;
    for (const key of keys.filter((k) => !k.endsWith('/'))) {
      if (found.length >= quota || taken >= PER_DIRECTORY) break;
      const entry = await describeSecret(vault, mount, `${prefix}${key}`);
      if (entry) {
        found.push(entry);
        taken++;
      }
    }
    for (const dir of keys.filter((k) => k.endsWith('/'))) {
      if (found.length >= quota) return;
      await walk(`${prefix}${dir}`);
    }
  };
  if (quota > 0) await walk('');
  return found;
}

/** The secret's current version and times, or undefined when that version is deleted or destroyed. */
async function describeSecret(
  vault: BaselineVault,
  mount: string,
  path: string,
): Promise<BaselineKvPath | undefined> {
  const metadata = await vault.kv(mount).readMetadata(path);
  if (!metadata) return undefined;
  const version = metadata.versions[String(metadata.current_version)];
  if (!version || version.destroyed || version.deletion_time) return undefined;
  return {
    mount,
    path,
    version: metadata.current_version,
    created_time: version.created_time,
    updated_time: metadata.updated_time,
  };
}

/**
 * Compares a restored cluster with the baseline recorded when the snapshot was taken. Without a
 * baseline (a snapshot sealwatch did not take) it reports what it found and reads a fresh sample,
 * which still proves the restore can be read.
 */
export async function checkAgainstBaseline(
  vault: BaselineVault,
  baseline: SnapshotBaseline | undefined,
): Promise<VerificationCheck[]> {
  const now = await takeBaseline(vault, { sampleSize: baseline ? 0 : DEFAULT_SAMPLE_SIZE });
  const count = (id: string, what: string, found: number, expected: number | undefined): VerificationCheck =>
    expected === undefined
      ? { id, ok: true, detail: `${found} ${what} (no baseline recorded for this snapshot)` }
      : {
          id,
          ok: found === expected,
          detail:
            found === expected
              ? `${found} ${what}, as recorded`
              : `${found} ${what}, ${expected} recorded when the snapshot was taken`,
        };
  const sample = baseline?.kv_sample ?? now.kv_sample;
  const failures: string[] = [];
  for (const entry of sample) {
    const problem = await checkSecret(vault, entry);
    if (problem) failures.push(`${entry.mount}/${entry.path}: ${problem}`);
  }
  const kvCheck: VerificationCheck =
    sample.length === 0
      ? { id: 'kv_sample', ok: true, detail: 'no KV v2 secrets to sample' }
      : failures.length === 0
        ? {
            id: 'kv_sample',
            ok: true,
            detail: `${sample.length} KV v2 secret(s) read at the ${baseline ? 'recorded' : 'current'} version`,
          }
        : {
            id: 'kv_sample',
            ok: false,
            detail: `${failures.length} of ${sample.length} sampled secret(s) did not come back: ${failures.slice(0, 3).join('; ')}`,
          };
  return [
    count('policies', 'ACL policies', now.policies, baseline?.policies),
    count('auth_mounts', 'auth mounts', now.auth_mounts, baseline?.auth_mounts),
    count('secret_mounts', 'secret mounts', now.secret_mounts, baseline?.secret_mounts),
    kvCheck,
  ];
}

/** Reads the recorded version (the value is read to prove it decrypts, then dropped) and its time. */
async function checkSecret(vault: BaselineVault, entry: BaselineKvPath): Promise<string | undefined> {
  const kv = vault.kv(entry.mount);
  const read = await kv.read(entry.path, entry.version);
  if (!read) return `version ${entry.version} is missing or deleted`;
  if (read.metadata.version !== entry.version)
    return `asked for version ${entry.version}, got ${read.metadata.version}`;
  if (read.metadata.created_time !== entry.created_time)
    return `version ${entry.version} was created ${read.metadata.created_time}, recorded ${entry.created_time}`;
  if (Object.keys(read.data ?? {}).length === 0) return `version ${entry.version} has no data`;
  return undefined;
}
