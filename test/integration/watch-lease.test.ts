import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { LeaseLostError } from '../../src/store/repositories/watch-lease.repository.js';
import type { AlertRecord } from '../../src/store/repositories/alerts.repository.js';
import { Store } from '../../src/store/store.js';
import { createWatchLease } from '../../src/watch/lease.js';
import { storeBackends, suiteStore } from '../harness/store-backends.js';
import { PathTemplateMatcher } from '../../src/config/path-template.js';
import { webhookChannel } from '../../src/watch/channels/webhook.channel.js';
import { WatchMetrics } from '../../src/watch/metrics.js';
import { createWatch } from '../../src/watch/watch.service.js';
import { startPostgres } from '../harness/postgres.js';
import { badNode, until } from '../harness/raft-faults.js';
import { startReceiver } from '../harness/receiver.js';
import { noticeCounter, quickVault, testWatchSettings } from '../harness/watch-in-process.js';

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
    const store = suiteStore(backend);

    it('one holder at a time; a paused old holder cannot commit after the lease passed on', async () => {
      const logger = silentLogger();
      const a = createWatchLease({ store: store(), logger, ttlMs: 1_000, holder: 'a' });
      const b = createWatchLease({ store: store(), logger, ttlMs: 1_000, holder: 'b' });
      expect(await a.tick()).toBe(true);
      expect(await b.tick()).toBe(false);
      expect(b.status()).toMatchObject({ role: 'standby', leader: 'a' });
      const fenceA = a.fence()!;
      await store().alerts.commitCycle([alert('aaaaaaaaaaaaaaa1')], [], fenceA);

      // "a" pauses past its lease; "b" takes over with the next epoch.
      await new Promise((r) => setTimeout(r, 1_300));
      expect(await b.tick()).toBe(true);
      expect(b.fence()!.epoch).toBe(fenceA.epoch + 1);
      const late = store().alerts.commitCycle(
        [alert('aaaaaaaaaaaaaaa2')],
        [{ fingerprint: 'aaaaaaaaaaaaaaa2', channel: 'webhook', kind: 'firing', payload: {} }],
        fenceA,
      );
      await expect(late).rejects.toBeInstanceOf(LeaseLostError);
      expect(a.lost(await late.catch((e: unknown) => e))).toBe(true);
      expect(a.isLeader()).toBe(false);
      expect((await store().alerts.active()).map((x) => x.fingerprint)).toEqual(['aaaaaaaaaaaaaaa1']);
      expect(await store().alerts.noticesOf('aaaaaaaaaaaaaaa2')).toEqual([]);
      // Renewing keeps the epoch; "a" cannot take it back while it runs.
      expect(await b.tick()).toBe(true);
      expect(await a.tick()).toBe(false);
      await store().alerts.commitCycle([alert('aaaaaaaaaaaaaaa3')], [], b.fence());

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

describe('a lone watch with a lease through a store outage longer than the lease', () => {
  it('takes the lease again (nobody else had it) and writes what it kept in memory: the resolve is told once', async () => {
    const pg = await startPostgres();
    const pgStore = await Store.open(pg.url);
    const [good, garbage] = await Promise.all([startReceiver('ok'), badNode('garbage')]);
    const vault = quickVault(garbage.address);
    const lease = createWatchLease({ store: pgStore, logger: silentLogger(), ttlMs: 1_000, holder: 'lone' });
    const watch = createWatch({
      vault,
      nodes: [garbage.address],
      store: pgStore,
      audit: { store: pgStore, matcher: new PathTemplateMatcher([]), logger: silentLogger() },
      channels: [
        webhookChannel({ name: 'good', url: good.url, signingKey: 'k-0123456789', timeoutMs: 1_000 }),
      ],
      metrics: new WatchMetrics(),
      logger: silentLogger(),
      lease,
      settings: testWatchSettings({ retries: new Map([['good', { attempts: 3, backoffMs: 0 }]]) }),
    });
    const told = noticeCounter(good);
    try {
      expect(await lease.tick()).toBe(true);
      await watch.cycle();
      await watch.deliver();
      expect(told('node-unreachable', 'firing')).toBe(1);
      pg.halt();
      const down = await watch.cycle();
      expect(down.storeError).toBeDefined();
      expect(told('watch-store-unreachable', 'firing')).toBe(1);
      // Renewals fail while the store is away: the lease runs out (1 s), the role stays.
      expect(await lease.tick()).toBe(true);
      await new Promise((r) => setTimeout(r, 1_500));
      pg.resume();
      await until(
        'a cycle with the store back',
        async () => (await watch.cycle()).storeError === undefined,
        20_000,
      );
      expect(lease.isLeader()).toBe(true);
      await watch.deliver();
      expect(told('watch-store-unreachable', 'resolved')).toBe(1);
      const kept = await pgStore.alerts.list({ includeResolved: true });
      expect(kept.find((a) => a.rule === 'watch-store-unreachable')).toMatchObject({
        state: 'resolved',
        notified_state: 'resolved',
      });
      expect(told('node-unreachable', 'firing')).toBe(1);
    } finally {
      await vault.close();
      await pgStore.close();
      await Promise.all([good.close(), garbage.close(), pg.stop()]);
    }
  }, 60_000);
});
