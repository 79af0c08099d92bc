import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PathTemplateMatcher } from '../../src/config/path-template.js';
import { silentLogger } from '../../src/logging/logger.js';
import { signWebhook } from '../../src/notify/channels.js';
import { Store } from '../../src/store/store.js';
import { emailChannel } from '../../src/watch/channels/email.channel.js';
import { pagerdutyChannel } from '../../src/watch/channels/pagerduty.channel.js';
import { slackChannel } from '../../src/watch/channels/slack.channel.js';
import { webhookChannel } from '../../src/watch/channels/webhook.channel.js';
import { WatchMetrics } from '../../src/watch/metrics.js';
import { deliverDue } from '../../src/watch/outbox.js';
import { createWatch } from '../../src/watch/watch.service.js';
import {
  alertChannelContract,
  sampleAlert,
  type ReceivedNotice,
} from '../contract/alert-channel.contract.js';
import { badNode, until } from '../harness/raft-faults.js';
import { startReceiver } from '../harness/receiver.js';
import { noticeCounter, quickVault, testWatchSettings } from '../harness/watch-in-process.js';
import { startSmtpServer } from '../harness/smtp.js';
import { startPostgres } from '../harness/postgres.js';

/** A client that gives up at once: watch's polls must not wait on a node these tests make fail. */
const TIMEOUT_MS = 1_000;
const KEY = 'contract-signing-key-0123456789';

/** Receivers for an HTTP channel: one accepting, one answering 500, one hanging. */
async function httpReceivers() {
  const [ok, fail, hang] = await Promise.all([
    startReceiver('ok'),
    startReceiver('fail'),
    startReceiver('hang'),
  ]);
  return {
    ok,
    url: (target: 'ok' | 'fail' | 'hang') => ({ ok, fail, hang })[target].url,
    close: () => Promise.all([ok.close(), fail.close(), hang.close()]).then(() => undefined),
  };
}

alertChannelContract('signed webhook', async () => {
  const r = await httpReceivers();
  return {
    timeoutMs: TIMEOUT_MS,
    grouped: 'one-message',
    channel: (target) =>
      webhookChannel({
        name: 'webhook',
        url: `${r.url(target)}/hook`,
        signingKey: KEY,
        timeoutMs: TIMEOUT_MS,
      }),
    received: async () =>
      r.ok.received().map((req): ReceivedNotice => {
        const ts = Number(req.headers['x-sealwatch-timestamp']);
        expect(req.headers['x-sealwatch-signature']).toBe(signWebhook(KEY, ts, req.body));
        expect(req.headers['idempotency-key']).toMatch(/^n-\d$/);
        const body = req.json<{
          kind: 'firing' | 'resolved';
          alert: { fingerprint: string };
          alerts: { fingerprint: string }[];
        }>();
        // `alert` stays (the contract is only added to): the first of `alerts`.
        expect(body.alerts[0]).toEqual(body.alert);
        return {
          kind: body.kind,
          fingerprint: body.alert.fingerprint,
          fingerprints: body.alerts.map((a) => a.fingerprint),
        };
      }),
    teardown: r.close,
  };
});

alertChannelContract('slack-compatible webhook', async () => {
  const r = await httpReceivers();
  return {
    timeoutMs: TIMEOUT_MS,
    grouped: 'one-message',
    channel: (target) =>
      slackChannel({ name: 'slack', url: `${r.url(target)}/services/T0/B0/x`, timeoutMs: TIMEOUT_MS }),
    received: async () =>
      r.ok.received().map((req): ReceivedNotice => {
        const { text } = req.json<{ text: string }>();
        const fingerprints = [...text.matchAll(/fingerprint: `([0-9a-f]+)`/g)].map((m) => m[1]!);
        if (fingerprints.length > 1) expect(text).toMatch(/^\*\[FIRING\] \d+ alerts: /);
        return {
          kind: text.startsWith('*[FIRING]') ? 'firing' : 'resolved',
          fingerprint: fingerprints[0]!,
          fingerprints,
        };
      }),
    teardown: r.close,
  };
});

alertChannelContract('PagerDuty Events API v2', async () => {
  const r = await httpReceivers();
  return {
    timeoutMs: TIMEOUT_MS,
    grouped: 'one-per-alert',
    channel: (target) =>
      pagerdutyChannel({
        name: 'pd',
        url: `${r.url(target)}/v2/enqueue`,
        routingKey: 'R0UTING',
        timeoutMs: TIMEOUT_MS,
      }),
    received: async () =>
      r.ok.received().map((req): ReceivedNotice => {
        const event = req.json<{
          routing_key: string;
          event_action: string;
          dedup_key: string;
          payload?: { severity: string };
        }>();
        expect(event.routing_key).toBe('R0UTING');
        if (event.event_action === 'trigger') expect(event.payload?.severity).toBe('critical');
        return {
          kind: event.event_action === 'trigger' ? 'firing' : 'resolved',
          fingerprint: event.dedup_key,
          fingerprints: [event.dedup_key],
        };
      }),
    teardown: r.close,
  };
});

alertChannelContract('email over SMTP', async () => {
  const [ok, refusing, hang] = await Promise.all([
    startSmtpServer({ authOptional: true }),
    // AUTH required and none offered: the server refuses the message.
    startSmtpServer({ authOptional: false }),
    badNode('hang'),
  ]);
  const hangPort = Number(new URL(hang.address).port);
  const target = { ok: ok.port, fail: refusing.port, hang: hangPort };
  return {
    timeoutMs: TIMEOUT_MS,
    grouped: 'one-message',
    channel: (t) =>
      emailChannel({
        name: 'email',
        password: undefined,
        config: {
          kind: 'email',
          from: 'sealwatch@example.test',
          to: ['oncall@example.test'],
          smtp: { host: '127.0.0.1', port: target[t], secure: false, starttls: 'none' },
          timeout_ms: TIMEOUT_MS,
          retries: { attempts: 1, backoff_ms: 0 },
        },
      }),
    received: async () =>
      ok.messages().map((m): ReceivedNotice => {
        expect(m.to).toEqual(['oncall@example.test']);
        // The text and the HTML part both list them: each once, in order.
        const fingerprints = [...new Set([...m.raw.matchAll(/fingerprint: ([0-9a-f]+)/g)].map((x) => x[1]!))];
        if (fingerprints.length > 1) expect(m.raw).toMatch(/Subject: \[FIRING\] \d+ alerts: /);
        return {
          kind: /Subject: \[FIRING\]/.test(m.raw) ? 'firing' : 'resolved',
          fingerprint: fingerprints[0]!,
          fingerprints,
        };
      }),
    teardown: async () => {
      await Promise.all([ok.close(), refusing.close(), hang.close()]);
    },
  };
});

describe('the outbox and a failing channel', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-outbox-'));
    store = await Store.open(join(dir, 'sealwatch.db'));
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('retries with back-off from the store, survives a reopen, and gives up after the last attempt', async () => {
    const receiver = await startReceiver('fail');
    const channel = webhookChannel({
      name: 'hook',
      url: receiver.url,
      signingKey: KEY,
      timeoutMs: TIMEOUT_MS,
    });
    const deps = {
      store,
      channels: [channel],
      logger: silentLogger(),
      retries: new Map([['hook', { attempts: 3, backoffMs: 60_000 }]]),
    };
    const alert = sampleAlert({ fingerprint: 'feedfacefeedface' });
    await store.alerts.commitCycle(
      [],
      [{ fingerprint: alert.fingerprint, channel: 'hook', kind: 'firing', payload: { ...alert } }],
    );
    const t0 = new Date();
    expect(await deliverDue(deps, t0)).toEqual({ sent: 0, failed: 1, waiting: 0 });
    // Not due again before its back-off, even to a fresh process reading the same store.
    const reopened = await Store.open(join(dir, 'sealwatch.db'));
    expect(await reopened.alerts.dueNotices(new Date(t0.getTime() + 59_000).toISOString())).toHaveLength(0);
    const [queued] = await reopened.alerts.noticesOf(alert.fingerprint);
    expect(queued).toMatchObject({
      state: 'queued',
      attempts: 1,
      last_error: expect.stringContaining('HTTP 500'),
    });
    await reopened.close();
    // Second attempt fails too; its back-off doubles.
    expect(await deliverDue(deps, new Date(t0.getTime() + 60_000))).toEqual({
      sent: 0,
      failed: 1,
      waiting: 0,
    });
    expect(
      await store.alerts.dueNotices(new Date(t0.getTime() + 60_000 + 119_000).toISOString()),
    ).toHaveLength(0);
    receiver.setMode('ok');
    expect(await deliverDue(deps, new Date(t0.getTime() + 180_000))).toEqual({
      sent: 1,
      failed: 0,
      waiting: 0,
    });
    expect((await store.alerts.noticesOf(alert.fingerprint))[0]).toMatchObject({
      state: 'sent',
      attempts: 3,
    });
    expect(receiver.received()).toHaveLength(3);
    await receiver.close();
  });

  it('a failing channel is an alert of its own, told through the channels that work', async () => {
    const [good, bad, garbage] = await Promise.all([
      startReceiver('ok'),
      startReceiver('fail'),
      badNode('garbage'),
    ]);
    const vault = quickVault(garbage.address);
    const metrics = new WatchMetrics();
    const watch = createWatch({
      vault,
      nodes: [garbage.address],
      store,
      audit: { store, matcher: new PathTemplateMatcher([]), logger: silentLogger() },
      channels: [
        webhookChannel({ name: 'good', url: good.url, signingKey: KEY, timeoutMs: TIMEOUT_MS }),
        webhookChannel({ name: 'bad', url: bad.url, signingKey: KEY, timeoutMs: TIMEOUT_MS }),
      ],
      metrics,
      logger: silentLogger(),
      settings: testWatchSettings({
        retries: new Map([
          ['good', { attempts: 3, backoffMs: 0 }],
          ['bad', { attempts: 3, backoffMs: 0 }],
        ]),
      }),
    });
    try {
      const first = await watch.cycle();
      expect(first.active?.map((a) => a.rule).sort()).toEqual(['no-leader', 'node-unreachable']);
      await watch.deliver();
      const second = await watch.cycle();
      expect(second.active?.find((a) => a.rule === 'watch-notifier-failing')).toMatchObject({
        state: 'firing',
        labels: { channel: 'bad' },
      });
      await watch.deliver();
      const told = good.received().map((r) => r.json<{ alert: { rule: string } }>().alert.rule);
      expect(told).toContain('watch-notifier-failing');
      expect(await metrics.registry.getSingleMetricAsString('sealwatch_notifier_failures_total')).toMatch(
        /sealwatch_notifier_failures_total\{channel="bad"\} [1-9]/,
      );
    } finally {
      await vault.close();
      await Promise.all([good.close(), bad.close(), garbage.close()]);
    }
  });
  it('while the store is down, store-unreachable is told directly and state is kept in memory, then written', async () => {
    const pg = await startPostgres();
    const pgStore = await Store.open(pg.url);
    const [good, garbage] = await Promise.all([startReceiver('ok'), badNode('garbage')]);
    const vault = quickVault(garbage.address);
    const watch = createWatch({
      vault,
      nodes: [garbage.address],
      store: pgStore,
      audit: { store: pgStore, matcher: new PathTemplateMatcher([]), logger: silentLogger() },
      channels: [webhookChannel({ name: 'good', url: good.url, signingKey: KEY, timeoutMs: TIMEOUT_MS })],
      metrics: new WatchMetrics(),
      logger: silentLogger(),
      settings: testWatchSettings({ retries: new Map([['good', { attempts: 3, backoffMs: 0 }]]) }),
    });
    const told = noticeCounter(good);
    try {
      await watch.cycle();
      await watch.deliver();
      expect(told('node-unreachable', 'firing')).toBe(1);
      pg.halt();
      const down = await watch.cycle();
      expect(down.storeError).toBeDefined();
      expect(down.active.find((a) => a.rule === 'watch-store-unreachable')?.state).toBe('firing');
      expect(told('watch-store-unreachable', 'firing')).toBe(1);
      expect(watch.health().ok).toBe(false);
      pg.resume();
      // The first query after the restart may still meet a dropped connection: cycles go on.
      await until(
        'a cycle with the store back',
        async () => (await watch.cycle()).storeError === undefined,
        20_000,
      );
      await watch.deliver();
      expect(told('watch-store-unreachable', 'resolved')).toBe(1);
      const kept = await pgStore.alerts.list({ includeResolved: true });
      expect(kept.find((a) => a.rule === 'watch-store-unreachable')).toMatchObject({
        state: 'resolved',
        notified_state: 'resolved',
      });
      // Nothing that was already told went out again.
      expect(told('node-unreachable', 'firing')).toBe(1);
    } finally {
      await vault.close();
      await pgStore.close();
      await Promise.all([good.close(), garbage.close(), pg.stop()]);
    }
  }, 60_000);
  it('an audit socket that cannot be listened on is an alert, and the listener is retried', async () => {
    const taken = await badNode('hang');
    const bind = taken.address.replace('http://', '');
    const good = await startReceiver('ok');
    const vault = quickVault(good.url);
    const watch = createWatch({
      vault,
      nodes: [],
      store,
      audit: { store, matcher: new PathTemplateMatcher([]), logger: silentLogger() },
      channels: [webhookChannel({ name: 'good', url: good.url, signingKey: KEY, timeoutMs: TIMEOUT_MS })],
      metrics: new WatchMetrics(),
      logger: silentLogger(),
      settings: testWatchSettings({
        intervalMs: 300,
        retries: new Map([['good', { attempts: 3, backoffMs: 0 }]]),
        auditSockets: [bind],
      }),
    });
    const controller = new AbortController();
    const running = watch.run(controller.signal);
    const rules = () =>
      good
        .received()
        .map((r) => r.json<{ kind: string; alert: { rule: string; labels: Record<string, string> } }>());
    try {
      const down = await until('the audit-socket-down notice', async () =>
        rules().find((n) => n.alert.rule === 'watch-audit-socket-down' && n.kind === 'firing'),
      );
      expect(down.alert.labels).toEqual({ socket: bind });
      // The address frees up: watch listens there at its next retry and the alert resolves.
      await taken.close();
      await until('the audit-socket-down resolve notice', async () =>
        rules().find((n) => n.alert.rule === 'watch-audit-socket-down' && n.kind === 'resolved'),
      );
    } finally {
      controller.abort();
      await running;
      await vault.close();
      await good.close();
    }
  }, 30_000);
  it('listener certificates: a 5-day certificate fires the 7-day alert only, a 20-day one the 30-day alert', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'sealwatch-tls-'));
    const listener = async (days: number) => {
      const key = join(certDir, `${days}.key`);
      const cert = join(certDir, `${days}.crt`);
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          String(days),
          '-subj',
          `/CN=listener-${days}d`,
        ],
        { stdio: 'ignore' },
      );
      const server = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (s) => s.end());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { server, bind: `127.0.0.1:${(server.address() as { port: number }).port}` };
    };
    const [five, twenty] = await Promise.all([listener(5), listener(20)]);
    const vault = quickVault('http://127.0.0.1:1');
    const watch = createWatch({
      vault,
      nodes: [],
      store,
      audit: { store, matcher: new PathTemplateMatcher([]), logger: silentLogger() },
      channels: [],
      metrics: new WatchMetrics(),
      logger: silentLogger(),
      settings: testWatchSettings({ nodeTimeoutMs: 2_000, tlsListeners: [five.bind, twenty.bind] }),
    });
    try {
      const { active } = await watch.cycle();
      const certs = active.filter((a) => a.rule.startsWith('listener-cert-expires'));
      expect(certs.map((a) => [a.rule, a.severity, a.labels['listener']]).sort()).toEqual([
        ['listener-cert-expires-30d', 'low', twenty.bind],
        ['listener-cert-expires-7d', 'high', five.bind],
      ]);
      expect(certs.every((a) => a.runbook === 'cert-expiry' && a.state === 'firing')).toBe(true);
      // Not probed again before tls_probe_interval: the alerts keep their state, nothing resolves.
      const again = await watch.cycle();
      expect(again.active.filter((a) => a.rule.startsWith('listener-cert-expires'))).toHaveLength(2);
    } finally {
      await vault.close();
      five.server.close();
      twenty.server.close();
      rmSync(certDir, { recursive: true, force: true });
    }
  }, 30_000);
});
