import { setTimeout as sleep } from 'node:timers/promises';
import { SealwatchError, errorMessage } from '../errors.js';
import type { VaultClient } from '../vault/client.js';
import type { HealthStatus } from '../vault/types.js';

type UnsealVault = Pick<VaultClient, 'addresses' | 'health' | 'unseal' | 'sealStatus'> & {
  /** The client's transport, when it has one, forgets the active node: an unseal may elect another. */
  transport?: { forgetActive(): void };
};
type SealVault = Pick<VaultClient, 'addresses' | 'health' | 'seal'>;

export interface NodeSealState {
  node: string;
  sealed: boolean | undefined;
  /** Why the node could not be asked (unreachable); undefined when it answered. */
  error?: string;
}

/**
 * Seals every node it can reach. sys/seal seals only the node that receives it — a standby is not
 * forwarded to the active node, and sealing the active node alone leaves the standbys unsealed (a
 * quorum of them elects a new active node) — so each node is sealed by its own address: standbys
 * first, so that no standby is promoted between the active node's seal and its own.
 */
export async function sealAllNodes(vault: SealVault): Promise<NodeSealState[]> {
  const health = await healthOfAll(vault);
  const order = [...health].sort((a, b) => rank(a) - rank(b));
  for (const h of order) {
    if (h.status?.sealed !== false) continue;
    await vault.seal(h.node);
  }
  return (await healthOfAll(vault)).map((h) => ({
    node: h.node,
    sealed: h.status?.sealed,
    ...(h.error ? { error: h.error } : {}),
  }));
}

const rank = (h: { status?: HealthStatus }) =>
  h.status?.standby === false && h.status.sealed === false ? 1 : 0;

async function healthOfAll(
  vault: Pick<VaultClient, 'addresses' | 'health'>,
): Promise<{ node: string; status?: HealthStatus; error?: string }[]> {
  return Promise.all(
    vault.addresses.map(async (node) => {
      try {
        return { node, status: await vault.health(node) };
      } catch (error) {
        return { node, error: errorMessage(error) };
      }
    }),
  );
}

export class UnsealTimeoutError extends SealwatchError {
  constructor(message: string, details: Record<string, unknown>) {
    super('unseal_timeout', message, { retryable: true, details });
  }
}

export interface WaitForUnsealOptions {
  timeoutMs: number;
  /** Key shares to unseal with; without them sealwatch only waits for the key holders. */
  unsealKeys?: readonly string[] | undefined;
  intervalMs?: number;
  signal?: AbortSignal;
  progress?: (message: string) => void;
}

/**
 * Returns when every reachable node is unsealed and one of them is active. With key shares,
 * sealwatch submits them to each sealed node itself (never more than the node's threshold); without,
 * it tells the operator which nodes still need shares, and polls.
 */
export async function waitForUnseal(
  vault: UnsealVault,
  options: WaitForUnsealOptions,
): Promise<NodeSealState[]> {
  const progress = options.progress ?? (() => undefined);
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 1000;
  let told = '';
  for (;;) {
    options.signal?.throwIfAborted();
    const health = await healthOfAll(vault);
    const reachable = health.filter((h) => h.status);
    const sealed = reachable.filter((h) => h.status!.sealed);
    const active = reachable.some((h) => h.status!.sealed === false && h.status!.standby === false);
    if (reachable.length > 0 && sealed.length === 0 && active) {
      // Otherwise later requests keep going to the old active node, now a standby answering from its own copy.
      vault.transport?.forgetActive();
      return health.map((h) => ({
        node: h.node,
        sealed: h.status?.sealed,
        ...(h.error ? { error: h.error } : {}),
      }));
    }
    if (sealed.length > 0 && options.unsealKeys && options.unsealKeys.length > 0) {
      for (const h of sealed) await unsealNode(vault, h.node, options.unsealKeys);
    } else if (sealed.length > 0) {
      // Only the threshold for the message; the wait itself polls every node again.
      const status = await vault.sealStatus(sealed[0]!.node).catch(() => undefined);
      const message =
        `waiting for the key holders: ${sealed.length} node(s) sealed (${sealed.map((h) => h.node).join(', ')}); ` +
        `each needs ${status?.t ?? 'threshold'} unseal key shares: bao operator unseal -address=<node> (once per share, each holder their own)`;
      if (message !== told) progress(message);
      told = message;
    } else if (!active) {
      const message = 'every reachable node is unsealed; waiting for one to become active';
      if (message !== told) progress(message);
      told = message;
    }
    if (Date.now() >= deadline)
      throw new UnsealTimeoutError(
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for Vault to be unsealed: ` +
          `${sealed.length} node(s) still sealed${active ? '' : ', no active node'}`,
        { sealed: sealed.map((h) => h.node), unreachable: health.filter((h) => h.error).map((h) => h.node) },
      );
    await sleep(interval, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}

/** Submits shares to one node until it unseals; says so when the shares given cannot do it. */
async function unsealNode(vault: UnsealVault, node: string, keys: readonly string[]): Promise<void> {
  let status: Awaited<ReturnType<UnsealVault['unseal']>> | undefined;
  for (const key of keys) {
    status = await vault.unseal(node, key);
    if (!status.sealed) return;
  }
  throw new SealwatchError(
    'unseal_shares_insufficient',
    `${node} is still sealed after ${keys.length} key share(s) (threshold ${status?.t ?? '?'}, progress ${status?.progress ?? '?'}): ` +
      'give at least the threshold of current shares, or leave them out and let the key holders unseal',
    { details: { node, given: keys.length, threshold: status?.t } },
  );
}
