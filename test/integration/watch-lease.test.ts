import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { LeaseLostError } from '../../src/store/repositories/watch-lease.repository.js';
import type { AlertRecord } from '../../src/store/repositories/alerts.repository.js';
import { Store } from '../../src/store/store.js';
import { createWatchLease } from '../../src/watch/lease.js';
import { storeBackends } from '../harness/store-backends.js';

const alert = (fingerprint: string): AlertRecord => ({
  fingerprint,
  rule: 'node-sealed',
  severity: 'critical',
  state: 'firing',
  labels: { node: 'http://127.0.0.1:8200' },
  summary: 'sealed',
  runbook: 'sealed',
  started_at: '2026-12-06T03:00:00.000Z',
  fired_at: '2026-12-06T03:00:00.000Z',
  resolved_at: null,
  last_seen_at: '2026-12-06T03:00:00.000Z',
  last_notified_at: '2026-12-06T03:00:00.000Z',
  notified_state: 'firing',
  acked_by: null,
  acked_at: null,
  silenced_by: null,
});

/** The lease and its fencing on both stores: two holders in one process, real databases. */
for (const backend of storeBackends('sealwatch-lease')) {
  describe(`watch lease on ${backend.name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      const opened = await backend.open();
      cleanup = opened.cleanup;
      store = await Store.open(opened.url);
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('one holder at a time; a paused old holder cannot commit after the lease passed on', async () => {
      const logger = silentLogger();
      const a = createWatchLease({ store, logger, ttlMs: 1_000, holder: 'a' });
      const b = createWatchLease({ store, logger, ttlMs: 1_000, holder: 'b' });
      expect(await a.tick()).toBe(true);
      expect(await b.tick()).toBe(false);
      expect(b.status()).toMatchObject({ role: 'standby', leader: 'a' });
      const fenceA = a.fence()!;
      await store.alerts.commitCycle([alert('aaaaaaaaaaaaaaa1')], [], fenceA);

      // "a" pauses past its lease; "b" takes over with the next epoch.
      await new Promise((r) => setTimeout(r, 1_300));
      expect(await b.tick()).toBe(true);
      expect(b.fence()!.epoch).toBe(fenceA.epoch + 1);
      const late = store.alerts.commitCycle(
        [alert('aaaaaaaaaaaaaaa2')],
        [{ fingerprint: 'aaaaaaaaaaaaaaa2', channel: 'webhook', kind: 'firing', payload: {} }],
        fenceA,
      );
      await expect(late).rejects.toBeInstanceOf(LeaseLostError);
      expect(a.lost(await late.catch((e: unknown) => e))).toBe(true);
      expect(a.isLeader()).toBe(false);
      expect((await store.alerts.active()).map((x) => x.fingerprint)).toEqual(['aaaaaaaaaaaaaaa1']);
      expect(await store.alerts.noticesOf('aaaaaaaaaaaaaaa2')).toEqual([]);
      // Renewing keeps the epoch; "a" cannot take it back while it runs.
      expect(await b.tick()).toBe(true);
      expect(await a.tick()).toBe(false);
      await store.alerts.commitCycle([alert('aaaaaaaaaaaaaaa3')], [], b.fence());

      // An expired lease fences its own holder too: nothing is sent on a lease that ran out.
      await new Promise((r) => setTimeout(r, 1_300));
      await expect(b.checkBeforeSending()).rejects.toBeInstanceOf(LeaseLostError);
      expect(b.isLeader()).toBe(false);

      // A clean release hands it over at once.
      expect(await a.tick()).toBe(true);
      await a.release();
      expect(await b.tick()).toBe(true);
    }, 30_000);
  });
}
