import { silentLogger } from '../../src/logging/logger.js';
import { VaultClient } from '../../src/vault/client.js';
import type { WatchSettings } from '../../src/watch/watch.service.js';
import type { startReceiver } from './receiver.js';

/** A client for a fake or faulty node: short timeout, no retries, so a cycle does not wait on it. */
export const quickVault = (address: string) =>
  new VaultClient({
    addresses: [address],
    timeoutMs: 500,
    retries: 0,
    maxConnections: 4,
    logger: silentLogger(),
  });

/**
 * Settings for a watch created in the test process (createWatch): a 1 s interval, 500 ms node
 * timeout, an hour between repeats, no audit input, no TLS listeners; `overrides` replace any of them.
 */
export function testWatchSettings(overrides: Partial<WatchSettings> = {}): WatchSettings {
  return {
    intervalMs: 1_000,
    nodeTimeoutMs: 500,
    repeatMs: 3_600_000,
    leaderChangesMax: 3,
    leaderChangesWithinMs: 600_000,
    forMs: {},
    retries: new Map(),
    auditSockets: [],
    auditFiles: [],
    tlsListeners: [],
    tlsProbeEveryMs: 600_000,
    ...overrides,
  };
}

/** How many notices of one rule and kind (firing, resolved) a receiver got. */
export const noticeCounter =
  (receiver: Awaited<ReturnType<typeof startReceiver>>) => (rule: string, kind: string) =>
    receiver
      .received()
      .map((r) => r.json<{ kind: string; alert: { rule: string } }>())
      .filter((n) => n.alert.rule === rule && n.kind === kind).length;
