import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { LAB_TENANT_TEMPLATES } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { StepContext } from '../../src/playbook/step.js';
import { createContainStep, type ContainStepOptions } from '../../src/respond/steps/contain.step.js';
import { Store } from '../../src/store/store.js';
import { freePort } from '../../src/util/ports.js';
import type { VaultClient } from '../../src/vault/client.js';
import type { AlertJson } from '../../src/watch/alert-json.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { until } from '../harness/raft-faults.js';
import { startReceiver } from '../harness/receiver.js';
import { startWatchProcess, type WatchProcess } from '../harness/watch-process.js';

interface Notice {
  kind: 'firing' | 'resolved';
  alert: AlertJson;
}

/**
 * Live detection for real: an OpenBao lab whose socket audit device streams to `sealwatch watch`
 * (a process), beside its file device; each fault is made on OpenBao and the notice must arrive at
 * a real HTTP receiver. Watch takes only the socket here, so every stored line comes from one
 * device and carries that device's HMACs (see the tripwire in docs/watch.md).
 */
describe('watch: live detection rules on a real OpenBao audit stream', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let dir: string;
  let metricsPort: number;
  let auditPort: number;
  let watch: WatchProcess | undefined;
  let sink: Server | undefined;
  const sinkSockets = new Set<Socket>();

  const notices = () => receiver.received().map((r) => ({ ...r.json<Notice>(), at: r }));
  const noticeOf = (rule: string, kind: Notice['kind'], labels: Record<string, string> = {}) =>
    notices().find(
      (n) =>
        n.alert.rule === rule &&
        n.kind === kind &&
        Object.entries(labels).every(([k, v]) => n.alert.labels[k] === v),
    );
  const waitNotice = (rule: string, kind: Notice['kind'], labels: Record<string, string> = {}) =>
    until(`${kind} ${rule} ${JSON.stringify(labels)}`, async () => noticeOf(rule, kind, labels), 30_000);
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const address = () => lab.lab().nodes[0]!.address;
  /** A raw call with a token, as an application makes it (no client retries). */
  const call = (method: string, path: string, token: string | undefined, body?: unknown) =>
    fetch(`${address()}/v1/${path}`, {
      method,
      headers: { ...(token ? { 'x-vault-token': token } : {}), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    auditPort = await freePort();
    metricsPort = await freePort();
    // OpenBao tests a socket audit device when it creates it: something must accept until watch listens.
    sink = createServer((socket) => {
      sinkSockets.add(socket);
      socket.resume().on('error', () => undefined);
    });
    await new Promise<void>((resolve) => sink!.listen(auditPort, '127.0.0.1', resolve));
    [lab, receiver] = await Promise.all([
      startTestLab({ nodes: 1, tenants: 5, auditSocket: `127.0.0.1:${auditPort}` }),
      startReceiver('ok'),
    ]);
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-watch-detect-'));
    writeFileSync(
      join(dir, 'sealwatch.yaml'),
      stringify({
        vault: { addresses: [address()] },
        store: { url: join(dir, 'sealwatch.db') },
        tenancy: { paths: [...LAB_TENANT_TEMPLATES] },
        assess: { many_tenants_threshold: 3, login_burst: { count: 5, within: '1m' } },
        watch: {
          repeat_interval: '1h',
          detection_quiet: '4s',
          // End to end: the many-tenants detection revokes the reader's token (off by default).
          auto_response: { 'many-tenants': 'revoke-accessor' },
          channels: [
            { kind: 'webhook', url: `${receiver.url}/hook`, signing_key: { env: 'WATCH_SIGNING_KEY' } },
          ],
        },
      }),
    );
    await new Promise<void>((resolve) => {
      sink!.close(() => resolve());
      sinkSockets.forEach((socket) => socket.destroy());
    });
    sink = undefined;
    watch = await startWatchProcess({
      config: join(dir, 'sealwatch.yaml'),
      metricsPort,
      args: ['--audit-socket', `127.0.0.1:${auditPort}`, '--interval', '1s'],
      env: { BAO_TOKEN: lab.lab().root_token, WATCH_SIGNING_KEY: 'detect-test-key-0123456789' },
    });
    // OpenBao reconnects its socket device on the next request: make requests until watch stores them.
    await until(
      'audit events through the socket',
      async () => {
        await vault.tokenLookupSelf();
        return /sealwatch_audit_events_ingested_total [1-9]/.test(await metrics());
      },
      30_000,
    );
  }, 240_000);

  afterAll(async () => {
    await watch?.stop();
    await Promise.allSettled([lab?.stop(), receiver?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (process.env['SEALWATCH_TEST_VERBOSE']) process.stderr.write(watch?.log() ?? '');
  });

  it('a burst of failed userpass logins fires login-burst from that address, then resolves when quiet', async () => {
    const started = Date.now();
    for (let i = 0; i < 6; i++) {
      const res = await call('POST', 'auth/userpass/login/alice', undefined, { password: `wrong-${i}` });
      // OpenBao 2.7.2 answers 400 (invalid username or password), and 403 (permission denied) once
      // user lockout has locked the user after its default threshold of failed attempts.
      expect([400, 403]).toContain(res.status);
    }
    const fired = await waitNotice('login-burst', 'firing', { remote_address: '127.0.0.1' });
    expect(fired.alert).toMatchObject({ severity: 'high', state: 'firing', runbook: 'auth-failures' });
    expect(fired.alert.summary).toMatch(/5\+ failed logins/);
    process.stderr.write(`login-burst notice ${Date.now() - started} ms after the first failed login\n`);
    // One alert however many findings: the sixth failure does not notify again.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(notices().filter((n) => n.alert.rule === 'login-burst' && n.kind === 'firing')).toHaveLength(1);
    await waitNotice('login-burst', 'resolved', { remote_address: '127.0.0.1' });
    expect(await metrics()).toMatch(/sealwatch_detections_total\{rule="login-burst"\} 1/);
  }, 90_000);

  it('a read with a root token fires root-token for that token', async () => {
    const root = await vault.tokenCreate({ policies: ['root'], ttl: '10m' });
    const res = await call('GET', 'sys/mounts', root.client_token);
    expect(res.status).toBe(200);
    const fired = await waitNotice('root-token', 'firing', { accessor: root.accessor });
    expect(fired.alert).toMatchObject({ severity: 'high', labels: { display_name: 'token' } });
    expect(fired.alert.summary).toContain('sys/mounts');
  }, 60_000);

  it('a write to sys/policies/acl/* fires sys-change naming the policy', async () => {
    const path = `sys/policies/acl/backdoor-${Date.now()}`;
    const res = await call('PUT', path, lab.lab().root_token, {
      policy: 'path "secret/*" { capabilities = ["read"] }',
    });
    expect(res.status).toBe(204);
    const fired = await waitNotice('sys-change', 'firing', { path });
    expect(fired.alert.summary).toMatch(/policy written/);
  }, 60_000);

  it('one token reading many tenants fires many-tenants', async () => {
    const tenants = (await vault.list('secret/metadata/tenants/')).map((t) => t.replace(/\/$/, ''));
    expect(tenants.length).toBeGreaterThanOrEqual(4);
    const reader = await vault.tokenCreate({ policies: ['mailer'], ttl: '10m' });
    for (const tenant of tenants.slice(0, 4)) {
      const res = await call('GET', `secret/data/tenants/${tenant}/smtp`, reader.client_token);
      expect(res.status).toBe(200);
    }
    const fired = await waitNotice('many-tenants', 'firing', { accessor: reader.accessor });
    expect(fired.alert).toMatchObject({ severity: 'high', runbook: 'secret-leak' });
    expect(fired.alert.summary).toContain('4 tenants (threshold 3)');
    // watch.auto_response revoked the reader for real, journalled as an incident step.
    await until(
      'the reader revoked by the automatic response',
      async () => (await call('GET', 'auth/token/lookup-self', reader.client_token)).status === 403,
      30_000,
    );
    const store = await Store.open(join(dir, 'sealwatch.db'));
    try {
      const responses = (await store.incidents.list()).filter((i) => i.type === 'watch-auto-response');
      expect(responses).toHaveLength(1);
      expect(responses[0]).toMatchObject({ state: 'completed' });
      const steps = await store.incidents.steps(responses[0]!.id);
      expect(JSON.stringify(steps)).toContain(reader.accessor);
      expect(JSON.stringify(steps)).not.toContain(reader.client_token);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('tripwire: a token revoked by containment and used again fires revoked-token-use (critical)', async () => {
    const leaked = await vault.tokenCreate({ policies: ['mailer'], ttl: '1h' });
    for (let i = 0; i < 3; i++)
      expect((await call('GET', 'auth/token/lookup-self', leaked.client_token)).status).toBe(200);
    // Containment for real: lockdown revokes every token but the responder's and records them.
    const store = await Store.open(join(dir, 'sealwatch.db'));
    try {
      const ctx: StepContext<ContainStepOptions> = {
        incidentId: 'inc-tripwire',
        logger: silentLogger(),
        signal: new AbortController().signal,
        outputs: {},
        options: { containment: 'lockdown' },
        progress: () => undefined,
        sensitive: () => undefined,
      };
      await createContainStep({ vault, storeDir: dir, revokedAccessors: store.revokedAccessors }).run(ctx);
      const recorded = await store.revokedAccessors.list();
      expect(recorded.map((r) => r.accessor)).toContain(leaked.accessor);
      expect(recorded.find((r) => r.accessor === leaked.accessor)?.incident_id).toBe('inc-tripwire');
    } finally {
      await store.close();
    }
    // Watch re-reads the tripwire list every second.
    await new Promise((r) => setTimeout(r, 2_500));
    const res = await call('GET', 'secret/data/tenants/x/smtp', leaked.client_token);
    expect(res.status).toBe(403);
    const fired = await waitNotice('revoked-token-use', 'firing', { accessor: leaked.accessor });
    expect(fired.alert).toMatchObject({ severity: 'critical', state: 'firing' });
    expect(fired.alert.summary).toMatch(/revoked by incident inc-tripwire/);
    expect(await metrics()).toMatch(/sealwatch_detections_total\{rule="revoked-token-use"\} 1/);
  }, 120_000);
});
