import { createReadStream } from 'node:fs';
import { BackupError } from '../../backup/backup.errors.js';
import { checkAgainstBaseline } from '../../backup/baseline.js';
import { errorMessage, SealwatchError } from '../../errors.js';
import type { StepContext } from '../../playbook/step.js';
import type { BackupRecord, VerificationCheck } from '../../store/repositories/backup.repository.js';
import { waitFor } from '../../util/wait.js';
import type { SealStatus } from '../../vault/types.js';
import { ManualHostStepError, type NodeHost } from '../raft/node-host.js';
import type { RunbookDeps } from '../runbook.js';

const trim = (a: string) => a.replace(/\/+$/, '');

/**
 * The 1-of-1 seal a restore starts from (a fresh node must be initialised and active to accept a
 * snapshot). A node still showing it after the restore was applied and the node restarted never
 * got the snapshot, and its key is gone with the process that made it.
 */
export function isTemporarySeal(seal: SealStatus, record: BackupRecord | undefined): boolean {
  const original1of1 = record?.key_shares === 1 && record.key_threshold === 1;
  return seal.initialized && seal.n === 1 && seal.t === 1 && !original1of1;
}

/**
 * Stops a node and starts it on the same data. A restored node keeps the seal configuration it
 * was initialised with in memory and refuses the original shares until it has re-read the
 * restored one. A node whose process the site controls (a lab): that process; elsewhere
 * `--restart-command`; else the operator.
 */
export async function restartNode(
  deps: RunbookDeps,
  host: NodeHost,
  node: string,
  restartCommand: string | undefined,
  why: string,
): Promise<void> {
  const control = deps.site?.nodeHosts;
  const hosted = control?.nodes().find((n) => trim(n.address) === trim(node));
  if (control && hosted) {
    await control.stop(hosted.nodeId, 15_000);
    await host.start(node);
    return;
  }
  if (restartCommand) {
    await host.start(node);
    return;
  }
  throw new ManualHostStepError(node, `restart the OpenBao process (${why})`);
}

/** The data the snapshot's baseline names, checked on the cluster as it is now; a failure is a check, not a throw. */
export async function baselineChecks(
  deps: RunbookDeps,
  record: BackupRecord | undefined,
): Promise<VerificationCheck[]> {
  try {
    return await checkAgainstBaseline(deps.vault, record?.baseline);
  } catch (error) {
    return [{ id: 'read', ok: false, detail: errorMessage(error).split('\n')[0]! }];
  }
}

/**
 * Initialises the empty node with a temporary 1-of-1 key (key and token stay in this process,
 * declared sensitive), unseals it, force-restores the snapshot, waits until the node has applied
 * it (it seals itself: it cannot open the restored keyring with the temporary key — a node
 * stopped before then comes back without the data) and restarts it so it reads the restored seal
 * configuration and takes the original shares.
 */
export async function restoreIntoEmptyNode(
  deps: RunbookDeps,
  host: NodeHost,
  node: string,
  file: string,
  ctx: StepContext<unknown>,
  restartCommand: string | undefined,
): Promise<void> {
  ctx.progress(`${node}: initialising with a temporary 1-of-1 key to receive the snapshot`);
  const init = await deps.vault.init(node, { secret_shares: 1, secret_threshold: 1 });
  const key = init.keys[0]!;
  for (const secret of [key, init.root_token, ...(init.keys_base64 ?? [])]) ctx.sensitive?.(secret);
  await deps.vault.unseal(node, key);
  await waitFor(
    `${node} to become active with the temporary key`,
    async () => (await deps.vault.health(node)).httpStatus === 200,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  ctx.progress(`${node}: force-restoring ${file}`);
  try {
    await deps.vault.restoreSnapshot(createReadStream(file), { force: true, node, token: init.root_token });
  } catch (error) {
    throw new BackupError(
      `${node} refused the snapshot ${file}: ${errorMessage(error).split('\n')[0]!}; the node holds a temporary 1-of-1 initialisation: move its data directory aside and start it empty before running again`,
      { cause: error },
    );
  }
  await waitFor(
    `${node} to apply the restored snapshot (it seals itself)`,
    async () => (await deps.vault.health(node)).sealed,
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  ctx.progress(`${node}: snapshot applied; restarting it to read the restored seal configuration`);
  await restartNode(deps, host, node, restartCommand, 'it must re-read the restored seal configuration');
}

/** Submits the original shares to one node and waits until it is active. */
export async function unsealActive(
  deps: RunbookDeps,
  node: string,
  shares: readonly string[],
  timeoutMs: number,
): Promise<{ threshold: number }> {
  const seal = await deps.vault.sealStatus(node);
  if (seal.sealed) {
    let status = seal;
    for (const share of shares.slice(0, seal.t)) {
      try {
        status = await deps.vault.unseal(node, share);
      } catch (error) {
        // Best effort before the real error is thrown; the message tells to reset if needed.
        await deps.vault.unsealReset(node).catch(() => undefined);
        throw new SealwatchError(
          'unseal_shares_rejected',
          `${node} refused a key share of the restored cluster (${errorMessage(error).split(' — ')[0]!}): give the shares of the cluster the snapshot was taken from (--unseal-keys-file F); unseal progress was reset`,
          { cause: error },
        );
      }
      if (!status.sealed) break;
    }
    if (status.sealed)
      throw new SealwatchError(
        'unseal_shares_rejected',
        `${node} is still sealed after ${seal.t} key share(s): they are not the shares of the cluster the snapshot was taken from`,
      );
  }
  await waitFor(`${node} to become active`, async () => (await deps.vault.health(node)).httpStatus === 200, {
    timeoutMs,
    intervalMs: 150,
  });
  return { threshold: seal.t };
}
