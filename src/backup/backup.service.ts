import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorMessage, SealwatchError, UsageError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { BackupRecord, VerificationCheck } from '../store/repositories/backup.repository.js';
import type { Store } from '../store/store.js';
import { waitFor } from '../util/wait.js';
import type { VaultClient } from '../vault/client.js';
import { VaultError } from '../vault/errors.js';
import { decodeRootToken } from '../vault/server-info.js';
import { BackupError, SnapshotKeySharesError } from './backup.errors.js';
import { checkAgainstBaseline, takeBaseline } from './baseline.js';
import { inspectRecordedSnapshot } from './recorded-snapshot.js';
import { startThrowawayServer, type ThrowawayServer } from './throwaway-server.js';

export type BackupVault = Pick<
  VaultClient,
  | 'snapshot'
  | 'serverInfo'
  | 'sealStatus'
  | 'leader'
  | 'listPolicies'
  | 'listAuthMounts'
  | 'listMounts'
  | 'kv'
>;

export interface BackupDeps {
  /** The cluster to snapshot; verify never touches it. */
  vault?: BackupVault;
  store: Pick<Store, 'backups'>;
  logger: Logger;
  env?: Readonly<Record<string, string | undefined>>;
  /** Progress lines for a human (stderr). */
  progress?: (message: string) => void;
}

export interface SnapshotOptions {
  /** Where to write the snapshot; default `<dir>/<id>.snap`. Never overwritten. */
  out?: string | undefined;
  /** The default directory when `out` is not given. */
  dir: string;
  sampleSize?: number;
}

export interface VerifyOptions {
  /** The original cluster's unseal key shares (at least its threshold). */
  shares: readonly string[];
  signal?: AbortSignal;
}

/** `backup verify --json`: stable field names, documented in the README. */
export interface VerifyReport {
  file: string;
  sha256: string;
  bytes: number;
  backup_id: string | null;
  ok: boolean;
  checks: VerificationCheck[];
  seconds: VerifySeconds;
}

// A type, not an interface: Object.entries then knows every value is a number.
export type VerifySeconds = {
  offline_check: number;
  start: number;
  restore: number;
  unseal: number;
  root_token: number;
  checks: number;
  stop: number;
  total: number;
};

/** The composition root of `backup`: snapshot a cluster, drill a restore of a snapshot file. */
export function createBackups(deps: BackupDeps) {
  const progress = deps.progress ?? (() => undefined);

  async function snapshot(options: SnapshotOptions): Promise<BackupRecord> {
    const vault = deps.vault;
    if (!vault) throw new BackupError('backup snapshot needs a Vault client');
    const takenAt = new Date();
    const id = backupId(takenAt);
    const file = resolve(options.out ?? join(options.dir, `${id}.snap`));
    if (existsSync(file)) throw new UsageError(`${file} exists: a snapshot never overwrites a file`);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });

    const [info, seal, leader] = await Promise.all([
      vault.serverInfo(),
      vault.sealStatus(),
      // The leader address is recorded when the server has one to tell (a node without HA answers an error).
      vault.leader().catch(() => undefined),
    ]);
    // Taken before the snapshot: every version it records is in the snapshot (later writes only add).
    const baseline = await takeBaseline(vault, { sampleSize: options.sampleSize });
    progress(
      `baseline: ${baseline.policies} policies, ${baseline.auth_mounts} auth mounts, ${baseline.secret_mounts} secret mounts, ${baseline.kv_sample.length} KV secrets sampled`,
    );
    const saved = await saveStream(await vault.snapshot(), file);
    const record: BackupRecord = {
      id,
      taken_at: takenAt.toISOString(),
      file,
      bytes: saved.bytes,
      sha256: saved.sha256,
      cluster_name: seal.cluster_name ?? null,
      cluster_id: seal.cluster_id ?? null,
      leader_address: leader?.leader_address || null,
      server_flavor: info.flavor,
      server_version: info.version,
      key_shares: seal.n || null,
      key_threshold: seal.t || null,
      baseline,
    };
    await deps.store.backups.record(record);
    return record;
  }

  /**
   * The disaster-recovery drill: check the file offline, restore it into a throwaway single-node
   * server, unseal it with the original cluster's shares, make a root token with them, compare it
   * with the baseline, and always stop the server and remove its directory. The result, passed or
   * failed, is recorded against the snapshot's checksum.
   */
  async function verify(fileArg: string, options: VerifyOptions): Promise<VerifyReport> {
    const file = resolve(fileArg);
    const startedAt = new Date();
    const clock = phaseClock();
    const { archive, record } = await inspectRecordedSnapshot(deps.store.backups, file);
    const checks: VerificationCheck[] = [
      {
        id: 'archive',
        ok: true,
        detail: `gzip'd tar with ${archive.entries.join(', ')}; SHA256SUMS match (raft index ${archive.raft.index}, term ${archive.raft.term})`,
      },
      {
        id: 'store_record',
        ok: true,
        detail: record
          ? `sha256 matches backup ${record.id} taken ${record.taken_at} from ${record.cluster_name ?? 'cluster'} (${record.server_flavor} ${record.server_version})`
          : 'no snapshot with this sha256 in the store: restored without a baseline to compare',
      },
    ];
    if (record?.key_threshold && options.shares.length < record.key_threshold)
      throw new SnapshotKeySharesError(
        `${file}: ${options.shares.length} key share(s) given, the snapshot's cluster needs ${record.key_threshold}: nothing was started`,
      );
    clock.lap('offline_check');

    let server: ThrowawayServer | undefined;
    const onAbort = () => server?.disposeSync();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let failure: Error | undefined;
    try {
      options.signal?.throwIfAborted();
      progress(`starting a throwaway OpenBao server for the restore`);
      server = await startThrowawayServer({ logger: deps.logger, ...(deps.env ? { env: deps.env } : {}) });
      const throwawayToken = await initialise(server);
      clock.lap('start');

      progress(`restoring ${file} (${archive.bytes} bytes) into ${server.address}`);
      await restore(server, file, throwawayToken);
      clock.lap('restore');

      const threshold = await unseal(server, file, options.shares);
      checks.push({
        id: 'unseal',
        ok: true,
        detail: `unsealed with ${threshold} of the original key shares`,
      });
      clock.lap('unseal');

      const token = await generateRoot(server, file, options.shares.slice(0, threshold));
      checks.push({
        id: 'root_token',
        ok: true,
        detail: 'root token generated with the original key shares',
      });
      clock.lap('root_token');

      checks.push(...(await checkAgainstBaseline(server.client(token), record?.baseline)));
      clock.lap('checks');
    } catch (error) {
      clock.lapFailed();
      failure = options.signal?.aborted
        ? new BackupError(
            `backup verify of ${file} interrupted: the throwaway server was stopped and its directory removed`,
          )
        : error instanceof Error
          ? error
          : new BackupError(`backup verify of ${file} failed: ${errorMessage(error)}`);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await server?.stop();
      clock.lap('stop');
    }
    const seconds = clock.done();
    const ok = failure === undefined && checks.every((c) => c.ok);
    // Shares that do not fit, or an interrupted drill, say nothing about the snapshot: not recorded,
    // so they never make a good snapshot look unverified.
    if (failure !== undefined && (failure instanceof SnapshotKeySharesError || options.signal?.aborted))
      throw failure;
    await deps.store.backups.recordVerification({
      backup_id: record?.id ?? null,
      file,
      sha256: archive.sha256,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      ok,
      checks,
      seconds: { ...seconds },
      error: failure === undefined ? null : errorMessage(failure),
    });
    if (failure !== undefined) throw failure;
    return {
      file,
      sha256: archive.sha256,
      bytes: archive.bytes,
      backup_id: record?.id ?? null,
      ok,
      checks,
      seconds,
    };
  }

  return { snapshot, verify };
}

export type Backups = ReturnType<typeof createBackups>;

/** Initialises the fresh server with one share and unseals it: a restore needs an active node and a token. */
async function initialise(server: ThrowawayServer): Promise<string> {
  const vault = server.client();
  const init = await vault.init(server.address, { secret_shares: 1, secret_threshold: 1 });
  await vault.unseal(server.address, init.keys[0]!);
  await waitActive(server, vault);
  return init.root_token;
}

async function waitActive(server: ThrowawayServer, vault: VaultClient): Promise<void> {
  await waitFor(
    `the throwaway server at ${server.address} to become active`,
    async () => (await vault.health(server.address)).httpStatus === 200,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/**
 * Force-restores the snapshot (it comes from another cluster, with other keys), waits for the node
 * to seal itself (it cannot open the restored keyring with the throwaway key: that is when the
 * restore has been applied; a node stopped before then comes back without it), then restarts it:
 * the running node still holds the throwaway seal configuration and would refuse the original
 * shares; after the restart it reads the restored one.
 */
async function restore(server: ThrowawayServer, file: string, token: string): Promise<void> {
  const vault = server.client(token);
  try {
    await vault.restoreSnapshot(createReadStream(file), { force: true });
  } catch (error) {
    throw new BackupError(`${file}: the server refused the snapshot: ${serverReason(error)}`, {
      cause: error,
    });
  }
  await waitFor(
    'the throwaway server to apply the restored snapshot (it seals itself)',
    async () => (await vault.health(server.address)).sealed,
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  await server.restart();
}

/** Submits the threshold of shares; a wrong or foreign share is a one-line SnapshotKeySharesError. */
async function unseal(server: ThrowawayServer, file: string, shares: readonly string[]): Promise<number> {
  const vault = server.client();
  const status = await vault.sealStatus(server.address);
  if (!status.initialized)
    throw new BackupError(
      `${file}: the restored server reports itself uninitialised: the restore did not take`,
    );
  if (shares.length < status.t)
    throw new SnapshotKeySharesError(
      `${file}: ${shares.length} key share(s) given, the snapshot's cluster needs ${status.t}`,
    );
  let sealed = status.sealed;
  for (const share of shares.slice(0, status.t)) {
    try {
      sealed = (await vault.unseal(server.address, share)).sealed;
    } catch (error) {
      throw new SnapshotKeySharesError(
        `${file}: the restored snapshot refused a key share (${serverReason(error)}): give the shares of the cluster the snapshot was taken from`,
        { cause: error },
      );
    }
  }
  if (sealed)
    throw new SnapshotKeySharesError(
      `${file}: still sealed after ${status.t} key share(s): they are not the shares of the cluster the snapshot was taken from`,
    );
  await waitActive(server, vault);
  return status.t;
}

/** A root token on the restored data: nobody holds one there, so the unauthenticated generate-root with the shares. */
async function generateRoot(
  server: ThrowawayServer,
  file: string,
  shares: readonly string[],
): Promise<string> {
  const vault = server.client();
  try {
    const current = await vault.generateRootStatus('unauthenticated');
    if (current.started) await vault.generateRootCancel('unauthenticated');
    const attempt = await vault.generateRootInit({}, 'unauthenticated');
    let status = attempt;
    for (const share of shares) {
      status = await vault.generateRootUpdate(share, attempt.nonce, 'unauthenticated');
      if (status.complete) break;
    }
    const encoded = status.encoded_token || status.encoded_root_token;
    if (!status.complete || !encoded || !attempt.otp)
      throw new SnapshotKeySharesError(
        `${file}: root token generation did not complete with ${shares.length} key share(s)`,
      );
    return decodeRootToken(encoded, attempt.otp);
  } catch (error) {
    if (error instanceof SealwatchError && !(error instanceof VaultError)) throw error;
    throw new SnapshotKeySharesError(
      `${file}: no root token could be generated on the restored snapshot: ${serverReason(error)}`,
      { cause: error },
    );
  }
}

/** Streams to `<file>.partial` while hashing, then renames: a cut-off snapshot never looks whole. */
async function saveStream(
  stream: NodeJS.ReadableStream,
  file: string,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const partial = `${file}.partial`;
  try {
    await pipeline(
      stream,
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
      createWriteStream(partial, { mode: 0o600, flags: 'wx' }),
    );
  } catch (error) {
    rmSync(partial, { force: true });
    throw new BackupError(`snapshot to ${file} failed after ${bytes} bytes: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  renameSync(partial, file);
  return { bytes, sha256: hash.digest('hex') };
}

function backupId(at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `bk-${stamp}-${randomBytes(2).toString('hex')}`;
}

function phaseClock() {
  const start = performance.now();
  let last = start;
  const seconds: Partial<VerifySeconds> = {};
  const order = ['offline_check', 'start', 'restore', 'unseal', 'root_token', 'checks', 'stop'] as const;
  const round = (ms: number) => Math.round(ms) / 1000;
  const lap = (phase: (typeof order)[number]) => {
    const now = performance.now();
    seconds[phase] = round(now - last);
    last = now;
  };
  return {
    lap,
    /** The phase that failed gets the time up to the failure. */
    lapFailed: () => {
      const phase = order.find((p) => seconds[p] === undefined);
      if (phase && phase !== 'stop') lap(phase);
    },
    done(): VerifySeconds {
      return {
        offline_check: seconds.offline_check ?? 0,
        start: seconds.start ?? 0,
        restore: seconds.restore ?? 0,
        unseal: seconds.unseal ?? 0,
        root_token: seconds.root_token ?? 0,
        checks: seconds.checks ?? 0,
        stop: seconds.stop ?? 0,
        total: round(performance.now() - start),
      };
    },
  };
}

function serverReason(error: unknown): string {
  return errorMessage(error).split('\n')[0]!;
}
