import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { auditFailureCounters } from '../../src/watch/poll.js';
import { freePort } from '../../src/util/ports.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startPlainServer, type PlainServer } from '../harness/bao-server.js';
import { until } from '../harness/raft-faults.js';
import { startReceiver } from '../harness/receiver.js';
import { signedNotices, startWatchProcess, type WatchProcess } from '../harness/watch-process.js';

const SIGNING_KEY = 'watch-audit-failure-signing-key-0123';

/** A TCP endpoint for OpenBao's socket audit device that the test can close and open again. */
async function auditEndpoint(port: number) {
  const sockets = new Set<Socket>();
  let received = 0;
  let server: Server | undefined;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('data', (d: Buffer) => (received += d.length));
        socket.on('close', () => sockets.delete(socket));
        // A reset from the closing server side is expected when the test closes the endpoint.
        socket.on('error', () => undefined);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const close = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      sockets.forEach((s) => s.destroy());
      server = undefined;
    });
  await open();
  return { open, close, received: () => received };
}

/**
 * audit-device-failures for real. OpenBao 2.7.2 counts vault.audit.log_request_failure (and
 * log_response_failure) only when NO audit device recorded the entry: one failing device beside a
 * working file device is only logged by the server ("backend failed to log request"), never
 * counted. So the fault here is a server whose only audit device is a socket device and whose
 * endpoint goes away: every audited request is refused and counted, while sys/health and the
 * unauthenticated sys/metrics (not audited) still answer watch.
 */
describe('watch audit-device-failures on a real OpenBao whose socket audit device fails', () => {
  let server: PlainServer;
  let vault: VaultClient;
  let endpoint: Awaited<ReturnType<typeof auditEndpoint>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let watch: WatchProcess | undefined;
  let dir: string;

  const notices = () => signedNotices(receiver, SIGNING_KEY);
  const noticesOf = (kind: 'firing' | 'resolved') =>
    notices().filter((n) => n.alert.rule === 'audit-device-failures' && n.kind === kind);
  const failureCounters = async () =>
    auditFailureCounters(await (await fetch(`${server.address}/v1/sys/metrics?format=prometheus`)).text());

  beforeAll(async () => {
    const port = await freePort();
    endpoint = await auditEndpoint(port);
    [server, receiver] = await Promise.all([
      startPlainServer({ auditSocket: `127.0.0.1:${port}`, telemetry: true }),
      startReceiver('ok'),
    ]);
    vault = server.client(server.rootToken);
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-watch-audit-'));
    const config = join(dir, 'sealwatch.yaml');
    writeFileSync(
      config,
      stringify({
        vault: { addresses: [server.address] },
        store: { url: join(dir, 'sealwatch.db') },
        watch: {
          node_timeout: '2s',
          repeat_interval: '1h',
          rules: { audit_failures_within: '5s' },
          channels: [
            { kind: 'webhook', url: `${receiver.url}/hook`, signing_key: { env: 'WATCH_SIGNING_KEY' } },
          ],
        },
      }),
    );
    watch = await startWatchProcess({
      config,
      metricsPort: await freePort(),
      env: { BAO_TOKEN: server.rootToken, WATCH_SIGNING_KEY: SIGNING_KEY },
      args: ['--interval', '1s'],
    });
  }, 120_000);

  afterAll(async () => {
    if (watch && process.env['SEALWATCH_TEST_VERBOSE']) process.stderr.write(watch.log());
    await watch?.stop().catch(() => undefined);
    await Promise.allSettled([server?.stop(), receiver?.close(), endpoint?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is quiet while the socket device records every request', async () => {
    await vault.read('sys/mounts');
    expect(endpoint.received()).toBeGreaterThan(0);
    expect(await failureCounters()).toEqual({ requestFailures: 0, responseFailures: 0 });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(noticesOf('firing')).toHaveLength(0);
  }, 30_000);

  it('fires when the endpoint closes and OpenBao refuses requests it cannot audit', async () => {
    await endpoint.close();
    const refused = await Promise.allSettled([1, 2, 3].map(() => vault.read('sys/mounts')));
    // No device recorded them: OpenBao refuses the requests themselves.
    expect(refused.every((r) => r.status === 'rejected')).toBe(true);
    const counted = await until('the failure counted in sys/metrics', async () => {
      const c = await failureCounters();
      return c.requestFailures > 0 ? c : undefined;
    });
    expect(counted.requestFailures).toBeGreaterThanOrEqual(3);
    const fired = await until('the audit-device-failures notice', async () => noticesOf('firing')[0]);
    expect(fired.alert).toMatchObject({ rule: 'audit-device-failures', severity: 'critical', labels: {} });
    expect(fired.alert.summary).toMatch(
      /audit devices failed [1-9]\d* request and \d+ response record\(s\) in the last 5 s/,
    );
  }, 60_000);

  it('resolves once the endpoint is back and the counters stop growing for the window', async () => {
    await endpoint.open();
    // OpenBao redials the device on the next request: requests are recorded and answered again.
    await until('a request answered again', async () => (await vault.read('sys/mounts')) !== undefined);
    const after = await failureCounters();
    const resolved = await until(
      'the audit-device-failures resolve notice',
      async () => noticesOf('resolved')[0],
    );
    expect(resolved.alert.state).toBe('resolved');
    expect(await failureCounters()).toEqual(after);
    expect(noticesOf('firing')).toHaveLength(1);
  }, 60_000);
});
