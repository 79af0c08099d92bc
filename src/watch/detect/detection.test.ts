import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mustParsePathTemplate, PathTemplateMatcher } from '../../config/path-template.js';
import { AuditSink } from '../../audit/audit-sink.js';
import { LAB_TENANT_TEMPLATES } from '../../lab/layout.js';
import { silentLogger } from '../../logging/logger.js';
import type { AlertRecord } from '../../store/repositories/alerts.repository.js';
import { Store } from '../../store/store.js';
import { WatchMetrics } from '../metrics.js';
import { createDetection } from './detection.js';

const paths = LAB_TENANT_TEMPLATES.map(mustParsePathTemplate);

function rootCall(id: string, accessor: string, at: Date): string {
  return JSON.stringify({
    time: at.toISOString(),
    type: 'request',
    auth: { accessor, display_name: 'root', policies: ['root'], token_policies: ['root'] },
    request: { id, operation: 'read', path: 'sys/mounts', remote_address: '10.0.0.9' },
  });
}

/** The detection engine on a real SQLite store: what it writes is what watch's outbox delivers. */
describe('live detection alerts', () => {
  let dir: string;
  let store: Store;
  let clock: Date;
  let fired: AlertRecord[];
  let wakes: number;

  const detection = (onDetection?: (alert: AlertRecord) => void) =>
    createDetection({
      store,
      thresholds: {
        manyTenants: 3,
        loginBurstCount: 5,
        loginBurstWithinMs: 60_000,
        maxTokenTtlSeconds: 86_400,
        allowActors: [],
      },
      tenancy: { paths, exclude: new Set() },
      quietMs: 60_000,
      channels: ['hook', 'mail'],
      metrics: new WatchMetrics(),
      logger: silentLogger(),
      wake: () => void wakes++,
      onDetection,
      now: () => clock,
    });

  const feed = async (d: ReturnType<typeof detection>, lines: string[]) => {
    const sink = new AuditSink(
      { store, matcher: new PathTemplateMatcher(paths), logger: silentLogger() },
      { onStoredRows: d.observe },
    );
    sink.add(
      lines.map((text, i) => ({ text, number: i + 1, end: 0, tooLong: false })),
      'socket:test',
    );
    await sink.flush();
    await d.settled();
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-detection-'));
    store = await Store.open(join(dir, 'sealwatch.db'));
    clock = new Date('2026-12-06T05:00:00Z');
    fired = [];
    wakes = 0;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fires at once, one alert per fingerprint, notices per channel; resolves when quiet; a restart does not re-notify', async () => {
    const d = detection((alert) => void fired.push(alert));
    await d.start();
    await feed(d, [
      rootCall('r1', 'acc-a', clock),
      rootCall('r2', 'acc-a', clock),
      rootCall('r3', 'acc-b', clock),
    ]);
    // The same events again (the file device's twin): stored once, judged once.
    await feed(d, [rootCall('r1', 'acc-a', clock)]);
    const active = await store.alerts.active();
    expect(active.map((a) => [a.rule, a.state, a.labels['accessor']]).sort()).toEqual([
      ['root-token', 'firing', 'acc-a'],
      ['root-token', 'firing', 'acc-b'],
    ]);
    const notices = await store.alerts.noticesOf(active[0]!.fingerprint);
    expect(notices.map((n) => [n.channel, n.kind]).sort()).toEqual([
      ['hook', 'firing'],
      ['mail', 'firing'],
    ]);
    expect(fired.map((a) => a.labels['accessor']).sort()).toEqual(['acc-a', 'acc-b']);
    expect(wakes).toBeGreaterThan(0);

    // Restarted before the quiet period: the firing alerts are known, nothing is notified again.
    const again = detection((alert) => void fired.push(alert));
    await again.start();
    await feed(again, [rootCall('r4', 'acc-a', clock)]);
    expect(fired).toHaveLength(2);

    clock = new Date(clock.getTime() + 61_000);
    await again.tick();
    expect(await store.alerts.active()).toEqual([]);
    const resolved = await store.alerts.noticesOf(active[0]!.fingerprint);
    expect(resolved.filter((n) => n.kind === 'resolved')).toHaveLength(2);
  });

  it('an onDetection that throws is logged, and the alert is still written and notified', async () => {
    const d = detection(() => {
      throw new Error('auto-response is down');
    });
    await d.start();
    await feed(d, [rootCall('r1', 'acc-c', clock)]);
    const [alert] = await store.alerts.active();
    expect(alert).toMatchObject({ rule: 'root-token', state: 'firing', notified_state: 'firing' });
    expect(await store.alerts.noticesOf(alert!.fingerprint)).toHaveLength(2);
  });

  it('a silenced detection fires but is not notified', async () => {
    await store.alerts.addSilence({
      matchers: { rule: 'root-token' },
      ends_at: new Date(clock.getTime() + 3_600_000).toISOString(),
      author: 'alice',
      comment: 'break-glass work',
    });
    const d = detection();
    await d.start();
    await feed(d, [rootCall('r1', 'acc-d', clock)]);
    const [alert] = await store.alerts.active();
    expect(alert?.silenced_by).toContain('(alice)');
    expect(await store.alerts.noticesOf(alert!.fingerprint)).toEqual([]);
  });
});
