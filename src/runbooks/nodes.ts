import type { VaultClient } from '../vault/client.js';
import { VaultError } from '../vault/errors.js';
import type { HealthStatus, SealStatus } from '../vault/types.js';

/** What one node said to the unauthenticated health and seal-status endpoints. */
export interface NodeProbe {
  node: string;
  health?: HealthStatus;
  seal?: SealStatus;
  /** Why the node did not answer (refused, timed out, not Vault): one line. */
  error?: string;
}

export function shortError(error: unknown): string {
  if (error instanceof VaultError) return error.message.split(' — ')[0] ?? error.code;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Asks every configured node, concurrently, for its health and seal status. A node that refuses,
 * hangs past the client's timeout or answers garbage is reported with the reason, never thrown.
 */
export async function probeNodes(
  vault: Pick<VaultClient, 'addresses' | 'health' | 'sealStatus'>,
): Promise<NodeProbe[]> {
  return Promise.all(
    vault.addresses.map(async (node): Promise<NodeProbe> => {
      try {
        const [health, seal] = await Promise.all([vault.health(node), vault.sealStatus(node)]);
        return { node, health, seal };
      } catch (error) {
        return { node, error: shortError(error) };
      }
    }),
  );
}
