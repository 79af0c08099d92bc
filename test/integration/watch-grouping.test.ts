import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import type { AlertRecord } from '../../src/store/repositories/alerts.repository.js';
import { Store } from '../../src/store/store.js';
import type { AlertJson } from '../../src/watch/alert-json.js';
import type { AlertCondition } from '../../src/watch/alert-rule.js';
import { ALERT_RULE_LIST } from '../../src/watch/alerts/registry.js';
import { emailChannel } from '../../src/watch/channels/email.channel.js';
import { webhookChannel } from '../../src/watch/channels/webhook.channel.js';
import { advanceAlerts } from '../../src/watch/lifecycle.js';
import { deliverDue, type OutboxDeps } from '../../src/watch/outbox.js';
import { startReceiver } from '../harness/receiver.js';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.js';
import { storeBackends } from '../harness/store-backends.js';

interface Body {
  kind: 'firing' | 'resolved';
  alert: AlertJson;
  alerts: AlertJson[];
}

const KEY = 'grouping-signing-key-0123456789';
const rules = ALERT_RULE_LIST.filter((r) => r.id === 'node-sealed' || r.id === 'no-leader').map((r) => ({
  ...r,
  forMs: 0,
}));

/**
 * Grouping and per-channel rate limits of the outbox, with the real lifecycle, a real store (both
 * backends), a real HTTP receiver and a real SMTP server.
 */
for (const backend of storeBackends('sealwatch-grouping')) {
  describe(`notice groups and rate limits on ${backend.name}`, () => {
    let url: string;
    let cleanup: () => Promise<void>;
    let store: Store;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let smtp: TestSmtpServer;
    let active: AlertRecord[] = [];

    const deps = (over: Partial<OutboxDeps> = {}): OutboxDeps => ({
      store,
      channels: [
        webhookChannel({ name: 'webhook', url: `${receiver.url}/hook`, signingKey: KEY, timeoutMs: 2_000 }),
        webhookChannel({
          name: 'limited',
          url: `${receiver.url}/limited`,
          signingKey: KEY,
          timeoutMs: 2_000,
        }),
        emailChannel({
          name: 'email',
          password: undefined,
          config: {
            kind: 'email',
            from: 'sealwatch@example.test',
            to: ['oncall@example.test'],
            smtp: { host: smtp.host, port: smtp.port, secure: false, starttls: 'none' },
            timeout_ms: 2_000,
            retries: { attempts: 3, backoff_ms: 1_000 },
          },
        }),
      ],
      logger: silentLogger(),
      retries: new Map(),
      grouping: { waitMs: 5_000, intervalMs: 60_000 },
      ...over,
    });
    const bodies = (path: string) =>
      receiver
        .received()
        .filter((r) => r.path === path)
        .map((r) => r.json<Body>());

    /** One cycle of the real lifecycle: these conditions now, notices grouped by rule. */
    const cycle = async (results: Record<string, AlertCondition[]>, channels: string[]) => {
      const { changed, notices } = advanceAlerts({
        rules,
        results: new Map(Object.entries(results)),
        active,
        silences: [],
        now: new Date(),
        repeatMs: 3_600_000,
        channels,
        groupBy: ['rule'],
      });
      await store.alerts.commitCycle(changed, notices);
      active = await store.alerts.active();
    };
    const sealed = (...nodes: string[]) =>
      nodes.map((node) => ({ labels: { node }, summary: `${node} is sealed` }));

    beforeAll(async () => {
      ({ url, cleanup } = await backend.open());
      store = await Store.open(url);
      [receiver, smtp] = await Promise.all([startReceiver('ok'), startSmtpServer({ authOptional: true })]);
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await Promise.allSettled([receiver?.close(), smtp?.close(), cleanup?.()]);
    });

    it('notices of one group due together leave as one message per channel, after group_wait; later ones after group_interval', async () => {
      const t0 = Date.now();
      await cycle(
        {
          'node-sealed': sealed('http://n1:8200', 'http://n2:8200'),
          'no-leader': [{ labels: {}, summary: 'no active node' }],
        },
        ['webhook', 'email'],
      );
      // group_wait (5 s) holds every group back: nothing leaves, nothing is lost.
      expect(await deliverDue(deps(), new Date(t0 + 1_000))).toEqual({ sent: 0, failed: 0, waiting: 6 });
      expect(receiver.received()).toHaveLength(0);

      expect(await deliverDue(deps(), new Date(t0 + 6_000))).toEqual({ sent: 6, failed: 0, waiting: 0 });
      const hooks = bodies('/hook');
      expect(hooks).toHaveLength(2);
      const sealedMessage = hooks.find((b) => b.alert.rule === 'node-sealed')!;
      expect(sealedMessage.alerts.map((a) => a.labels['node']).sort()).toEqual([
        'http://n1:8200',
        'http://n2:8200',
      ]);
      expect(sealedMessage.alert).toEqual(sealedMessage.alerts[0]);
      expect(hooks.find((b) => b.alert.rule === 'no-leader')!.alerts).toHaveLength(1);
      const mails = smtp.messages();
      expect(mails).toHaveLength(2);
      expect(mails.map((m) => /Subject: (.*)/.exec(m.raw)![1]).sort()).toEqual([
        '[FIRING] 2 alerts: critical node-sealed (2)',
        '[FIRING] critical no-leader: no active node',
      ]);
      // The two node-sealed notices of a channel left in one message.
      const [n1, n2] = await Promise.all(
        active.filter((a) => a.rule === 'node-sealed').map((a) => store.alerts.noticesOf(a.fingerprint)),
      );
      const webhookOf = (notices: typeof n1) => notices!.find((n) => n.channel === 'webhook')!;
      expect(webhookOf(n1).message_id).toBe(webhookOf(n2).message_id);
      expect(webhookOf(n1)).toMatchObject({ state: 'sent', attempts: 1 });

      // A third node seals: its group had a message just now, so it waits group_interval (60 s).
      await cycle(
        {
          'node-sealed': sealed('http://n1:8200', 'http://n2:8200', 'http://n3:8200'),
          'no-leader': [{ labels: {}, summary: 'no active node' }],
        },
        ['webhook'],
      );
      expect(await deliverDue(deps(), new Date(Date.now() + 6_000))).toEqual({
        sent: 0,
        failed: 0,
        waiting: 1,
      });
      expect(await deliverDue(deps(), new Date(Date.now() + 61_000))).toEqual({
        sent: 1,
        failed: 0,
        waiting: 0,
      });
      const late = bodies('/hook')[2]!;
      expect(late.alerts.map((a) => a.labels['node'])).toEqual(['http://n3:8200']);
      expect(bodies('/hook')).toHaveLength(3);
    }, 60_000);

    it('a rate-limited channel holds notices in the outbox across a restart and sends each once as the limit allows', async () => {
      const nodes = [
        'http://r1:8200',
        'http://r2:8200',
        'http://r3:8200',
        'http://r4:8200',
        'http://r5:8200',
      ];
      // Five groups (grouped by node): five messages at 2 a minute.
      const { changed, notices } = advanceAlerts({
        rules,
        results: new Map([['node-sealed', sealed(...nodes)]]),
        active: [],
        silences: [],
        now: new Date(),
        repeatMs: 3_600_000,
        channels: ['limited'],
        groupBy: ['node'],
      });
      await store.alerts.commitCycle(changed, notices);
      const limited = { rateLimits: new Map([['limited', 2]]), grouping: { waitMs: 0, intervalMs: 0 } };
      const t0 = Date.now();
      expect(await deliverDue(deps(limited), new Date(t0))).toEqual({ sent: 2, failed: 0, waiting: 3 });
      expect(await deliverDue(deps(limited), new Date(t0 + 1_000))).toEqual({
        sent: 0,
        failed: 0,
        waiting: 3,
      });
      expect(bodies('/limited')).toHaveLength(2);

      // A restart: the three waiting notices are still queued in the store.
      await store.close();
      store = await Store.open(url);
      expect(await deliverDue(deps(limited), new Date(t0 + 90_000))).toEqual({
        sent: 2,
        failed: 0,
        waiting: 1,
      });
      expect(await deliverDue(deps(limited), new Date(t0 + 180_000))).toEqual({
        sent: 1,
        failed: 0,
        waiting: 0,
      });
      const told = bodies('/limited').map((b) => b.alert.labels['node']);
      expect(told.sort()).toEqual(nodes);
      expect(await deliverDue(deps(limited), new Date(t0 + 300_000))).toEqual({
        sent: 0,
        failed: 0,
        waiting: 0,
      });
      expect(bodies('/limited')).toHaveLength(5);
    }, 60_000);
  });
}
