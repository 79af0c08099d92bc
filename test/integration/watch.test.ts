import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { signWebhook } from '../../src/notify/channels.js';
import { freePort } from '../../src/util/ports.js';
import type { AlertJson } from '../../src/watch/alert-json.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { activeNode, badNode, killNode, until } from '../harness/raft-faults.js';
import { startReceiver } from '../harness/receiver.js';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.js';
import { startWatchProcess, type WatchProcess } from '../harness/watch-process.js';
import type { VaultClient } from '../../src/vault/client.js';

const SIGNING_KEY = 'watch-test-signing-key-0123456789';

interface Notice {
  version: number;
  kind: 'firing' | 'resolved';
  alert: AlertJson;
}

/**
 * `sealwatch watch` as a real process against a real 3-node OpenBao lab, a hanging fourth
 * "node", a real HTTP receiver and a real SMTP server.
 */
describe('sealwatch watch on a 3-node lab', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let smtp: TestSmtpServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let hang: Awaited<ReturnType<typeof badNode>>;
  let dir: string;
  let env: Record<string, string>;
  let metricsPort: number;
  let auditPort: number;
  let watch: WatchProcess | undefined;
  /** The last watch process's stderr (kept after it stopped). */
  let watchLog = () => '';
  let sink: Server | undefined;
  const sinkSockets = new Set<Socket>();

  const cli = (args: string[]) => runCli(['--config', join(dir, 'sealwatch.yaml'), ...args], { env });
  const notices = () =>
    receiver.received().map((r) => {
      // Every notice is signed: recompute the HMAC over "<timestamp>.<body>".
      const timestamp = Number(r.headers['x-sealwatch-timestamp']);
      expect(r.headers['x-sealwatch-signature']).toBe(signWebhook(SIGNING_KEY, timestamp, r.body));
      return r.json<Notice>();
    });
  const noticesOf = (rule: string, kind: Notice['kind']) =>
    notices().filter((n) => n.alert.rule === rule && n.kind === kind);

  const startWatch = async () => {
    if (sink) {
      const closing = sink;
      sink = undefined;
      await new Promise<void>((resolve) => {
        closing.close(() => resolve());
        sinkSockets.forEach((socket) => socket.destroy());
      });
    }
    const started = await startWatchProcess({
      config: join(dir, 'sealwatch.yaml'),
      metricsPort,
      args: [
        '--audit-socket',
        `127.0.0.1:${auditPort}`,
        '--audit-file',
        lab.lab().audit_log,
        '--interval',
        '1s',
      ],
      env,
    });
    watch = started;
    watchLog = () => started.log();
  };
  const stopWatch = async () => {
    if (!watch) return;
    const child = watch;
    watch = undefined;
    await child.stop();
  };
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    return { ok: res.ok, ...((await res.json()) as { last_cycle_at: string | null }) };
  };
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const alertsList = async () => {
    const r = await cli(['alerts', 'list', '--all', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return r.json<AlertJson[]>();
  };

  beforeAll(async () => {
    auditPort = await freePort();
    metricsPort = await freePort();
    // OpenBao tests a socket audit device when it creates it (at init): something must accept
    // until watch itself listens there; the lab's file device records everything meanwhile.
    sink = createServer((socket) => {
      sinkSockets.add(socket);
      socket.resume().on('error', () => undefined);
    });
    await new Promise<void>((resolve) => sink!.listen(auditPort, '127.0.0.1', resolve));
    [lab, smtp, receiver, hang] = await Promise.all([
      startTestLab({ nodes: 3, tenants: 2, auditSocket: `127.0.0.1:${auditPort}` }),
      startSmtpServer({ authOptional: true }),
      startReceiver('ok'),
      badNode('hang'),
    ]);
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-watch-'));
    env = { BAO_TOKEN: lab.lab().root_token, WATCH_SIGNING_KEY: SIGNING_KEY };
    writeFileSync(
      join(dir, 'sealwatch.yaml'),
      stringify({
        vault: { addresses: [...lab.lab().nodes.map((n) => n.address), hang.address] },
        store: { url: join(dir, 'sealwatch.db') },
        watch: {
          node_timeout: '800ms',
          repeat_interval: '1h',
          rules: { leader_changes_max: 0 },
          channels: [
            { kind: 'webhook', url: `${receiver.url}/hook`, signing_key: { env: 'WATCH_SIGNING_KEY' } },
            {
              kind: 'email',
              from: 'sealwatch@example.test',
              to: ['oncall@example.test'],
              smtp: { host: smtp.host, port: smtp.port, starttls: 'none' },
            },
          ],
        },
      }),
    );
  }, 180_000);

  afterAll(async () => {
    await stopWatch().catch(() => undefined);
    await Promise.allSettled([lab?.stop(), smtp?.close(), receiver?.close(), hang?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (watchLog() && process.env['SEALWATCH_TEST_VERBOSE']) process.stderr.write(watchLog());
  });

  it('--once: a silenced unreachable node fires (exit 3 at --fail-on high, 0 at critical) but is not notified', async () => {
    const silence = await cli([
      'alerts',
      'silence',
      '--match',
      'rule=node-unreachable',
      '--for',
      '1h',
      '--author',
      'test',
      '--comment',
      'the hanging test node',
      '--json',
    ]);
    expect(silence.code, silence.stderr).toBe(0);
    const started = Date.now();
    const once = await cli(['watch', '--once', '--fail-on', 'high', '--json']);
    expect(once.code, once.stderr).toBe(3);
    // The hanging node costs one node timeout, not the CLI's default timeout with retries.
    expect(Date.now() - started).toBeLessThan(15_000);
    const report = once.json<{ alerts: AlertJson[]; leader: string }>();
    const unreachable = report.alerts.find((a) => a.rule === 'node-unreachable')!;
    expect(unreachable).toMatchObject({ state: 'firing', labels: { node: hang.address }, severity: 'high' });
    expect(unreachable.silenced_by).toContain('(test)');
    expect(Object.keys(unreachable)).toEqual([
      'fingerprint',
      'rule',
      'severity',
      'state',
      'labels',
      'summary',
      'runbook',
      'started_at',
      'fired_at',
      'resolved_at',
      'last_notified_at',
      'acked_by',
      'silenced_by',
    ]);
    expect((await cli(['watch', '--once', '--fail-on', 'critical'])).code).toBe(0);
    expect(receiver.received()).toHaveLength(0);
  }, 60_000);

  it('a sealed node fires node-sealed: signed webhook and email arrive, /metrics shows it, cycles keep their pace', async () => {
    await startWatch();
    const leader = await activeNode(lab, vault);
    const standby = lab.lab().nodes.find((n) => n.address !== leader.address)!;
    await vault.seal(standby.address);
    const fired = await until('the node-sealed notice', async () => noticesOf('node-sealed', 'firing')[0]);
    expect(fired.alert).toMatchObject({
      state: 'firing',
      severity: 'critical',
      labels: { node: standby.address },
      runbook: 'sealed',
    });
    await until('the node-sealed email', async () =>
      smtp.messages().find((m) => m.raw.includes('[FIRING] critical node-sealed')),
    );
    const text = await metrics();
    expect(text).toContain(`sealwatch_node_sealed{node="${standby.address}"} 1`);
    expect(text).toContain(`sealwatch_node_up{node="${hang.address}"} 0`);
    expect(text).toMatch(/sealwatch_alerts\{rule="node-sealed",severity="critical",state="firing"\} 1/);
    expect(text).toMatch(/sealwatch_detections_total\{rule="node-sealed"\} 1/);
    // A hanging node costs its 800 ms timeout per cycle, never a pile-up: cycles stay ~1 s apart.
    const first = Date.parse((await health()).last_cycle_at!);
    await new Promise((r) => setTimeout(r, 3_500));
    const later = Date.parse((await health()).last_cycle_at!);
    expect(later - first).toBeGreaterThanOrEqual(2_000);
    // Audit events arrive through the socket device and the file device: each is stored once.
    const probe = `secret/data/watch-probe-${Date.now()}`;
    await vault.read(probe).catch(() => undefined); // a 404 is audited like any other request
    const stored = async () => {
      const r = await cli(['audit', 'query', '--path-prefix', probe, '--json']);
      return r.json<{ type: string; source: string }[]>();
    };
    await until('the probe request and response stored', async () => (await stored()).length >= 2);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await stored()).map((e) => e.type).sort()).toEqual(['request', 'response']);
    await until('audit events counted', async () =>
      /sealwatch_audit_events_ingested_total [1-9]/.test(await metrics()),
    );
  }, 90_000);

  it('a restarted watch neither re-sends nor forgets what was firing', async () => {
    const before = (await alertsList()).find((a) => a.rule === 'node-sealed' && a.state === 'firing')!;
    await stopWatch();
    await startWatch();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(noticesOf('node-sealed', 'firing')).toHaveLength(1);
    const after = (await alertsList()).find((a) => a.fingerprint === before.fingerprint)!;
    expect(after).toMatchObject({
      state: 'firing',
      fired_at: before.fired_at,
      started_at: before.started_at,
    });
    expect(notices().filter((n) => n.alert.rule === 'node-unreachable')).toHaveLength(0);
  }, 60_000);

  it('unsealing sends the resolve notice (webhook and email)', async () => {
    const sealed = noticesOf('node-sealed', 'firing')[0]!.alert.labels['node']!;
    for (const key of lab.lab().unseal_keys.slice(0, 3)) await vault.unseal(sealed, key);
    const resolved = await until('the resolve notice', async () => noticesOf('node-sealed', 'resolved')[0]);
    expect(resolved.alert.state).toBe('resolved');
    expect(resolved.alert.resolved_at).not.toBeNull();
    await until('the resolve email', async () =>
      smtp.messages().find((m) => m.raw.includes('[RESOLVED] critical node-sealed')),
    );
    const show = await cli(['alerts', 'show', resolved.alert.fingerprint, '--json']);
    expect(show.json<{ notices: { kind: string; state: string }[] }>().notices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'firing', state: 'sent' }),
        expect.objectContaining({ kind: 'resolved', state: 'sent' }),
      ]),
    );
  }, 60_000);

  it('SIGKILL of the leader: the leader change is alerted', async () => {
    await until('every node unsealed', async () => {
      const h = await Promise.all(lab.lab().nodes.map((n) => vault.health(n.address).catch(() => undefined)));
      return h.every((x) => x && !x.sealed);
    });
    const leader = await activeNode(lab, vault);
    await killNode(leader);
    const flapping = await until(
      'the leader-change notice',
      async () => noticesOf('leader-flapping', 'firing')[0],
      60_000,
    );
    expect(flapping.alert.runbook).toBe('leader-election');
    expect(noticesOf('node-unreachable', 'firing')).toHaveLength(0);
    await stopWatch();
    const ack = await cli([
      'alerts',
      'ack',
      flapping.alert.fingerprint.slice(0, 8),
      '--author',
      'bob',
      '--json',
    ]);
    expect(ack.code, ack.stderr).toBe(0);
    expect(ack.json<AlertJson>()).toMatchObject({ fingerprint: flapping.alert.fingerprint, acked_by: 'bob' });
    const silence = (await alertsList())
      .find((a) => a.rule === 'node-unreachable')!
      .silenced_by!.split(' ')[0]!;
    const unsilence = await cli(['alerts', 'unsilence', silence]);
    expect(unsilence.code, unsilence.stderr).toBe(0);
    expect((await cli(['alerts', 'unsilence', 'no-such-silence'])).code).toBe(2);
    // Unsilenced, the still unreachable hanging node is notified by the next cycle.
    const once = await cli(['watch', '--once']);
    expect(once.code, once.stderr).toBe(0);
    expect(noticesOf('node-unreachable', 'firing').map((n) => n.alert.labels['node'])).toContain(
      hang.address,
    );
    expect(noticesOf('leader-flapping', 'firing')).toHaveLength(1);
  }, 90_000);
});
