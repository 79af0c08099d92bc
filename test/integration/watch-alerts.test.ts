import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { freePort } from '../../src/util/ports.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { until } from '../harness/raft-faults.js';
import { startReceiver } from '../harness/receiver.js';
import { signedNotices, startWatchProcess, type WatchProcess } from '../harness/watch-process.js';

const SIGNING_KEY = 'watch-alerts-signing-key-0123456789';
/** The backup schedule under test: a verified snapshot older than this is stale. */
const SNAPSHOT_MAX_AGE_S = 45;

/**
 * memory-high, lease-count-growth, auth-failure-rate and snapshot-stale against a real OpenBao
 * lab node: `sealwatch watch` as a real process following the lab's audit file, real faults
 * (thresholds set low, real tokens, real failed userpass logins, real snapshots and restore
 * drills), signed notices at a real HTTP receiver.
 */
describe('watch telemetry, lease, login and snapshot alerts on a real OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let watch: WatchProcess | undefined;
  let config: string;
  let metricsPort: number;
  let snapshots = 0;

  const notices = () => signedNotices(receiver, SIGNING_KEY);
  const noticesOf = (rule: string, kind: 'firing' | 'resolved') =>
    notices().filter((n) => n.alert.rule === rule && n.kind === kind);
  const cli = (args: string[]) => runCli(['--config', config, ...args], { timeoutMs: 180_000 });
  const metrics = async () => (await fetch(`${watch!.metricsUrl}/metrics`)).text();

  const writeConfig = (rules: Record<string, unknown>) => {
    const base = parse(readFileSync(lab.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      config,
      stringify({
        ...base,
        store: { url: join(lab.dir, 'watch-alerts.db') },
        watch: {
          node_timeout: '2s',
          repeat_interval: '1h',
          rules,
          channels: [
            { kind: 'webhook', url: `${receiver.url}/hook`, signing_key: { env: 'WATCH_SIGNING_KEY' } },
          ],
        },
      }),
    );
  };
  const RULES = {
    memory_ratio: 0.01,
    lease_growth_within: '20s',
    lease_growth_min: 40,
    lease_growth_fraction: 0.5,
    auth_failures_within: '15s',
    auth_failures_baseline: '10m',
    auth_failures_min: 10,
    auth_failures_factor: 3,
    snapshot_max_age: `${SNAPSHOT_MAX_AGE_S}s`,
  };
  const startWatch = async () => {
    watch = await startWatchProcess({
      config,
      metricsPort,
      env: { WATCH_SIGNING_KEY: SIGNING_KEY },
      args: ['--audit-file', lab.lab().audit_log, '--interval', '1s'],
    });
  };
  const stopWatch = async () => {
    await watch?.stop();
    watch = undefined;
  };
  /** `backup snapshot` then `backup verify` of it (the lab's shares): a fresh verified snapshot. */
  const snapshotAndVerify = async () => {
    const file = join(lab.dir, `watch-${++snapshots}.snap`);
    const taken = await cli(['backup', 'snapshot', '--out', file, '--json']);
    expect(taken.code, taken.stderr).toBe(0);
    const verified = await cli(['backup', 'verify', file, '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.json<{ ok: boolean }>().ok).toBe(true);
    return taken.json<{ id: string }>().id;
  };

  beforeAll(async () => {
    [lab, receiver] = await Promise.all([startTestLab({ nodes: 1, tenants: 2 }), startReceiver('ok')]);
    vault = lab.client();
    metricsPort = await freePort();
    config = join(lab.dir, 'watch-alerts.yaml');
    writeConfig(RULES);
    await startWatch();
  }, 180_000);

  afterAll(async () => {
    if (watch && process.env['SEALWATCH_TEST_VERBOSE']) process.stderr.write(watch.log());
    await stopWatch().catch(() => undefined);
    await Promise.allSettled([lab?.stop(), receiver?.close()]);
  });

  it('memory-high fires when the active node is above a low memory_ratio, and snapshot-stale with no verified snapshot at all', async () => {
    const memory = await until('the memory-high notice', async () => noticesOf('memory-high', 'firing')[0]);
    const node = lab.lab().nodes[0]!.address;
    expect(memory.alert).toMatchObject({ severity: 'high', runbook: 'memory', labels: { node } });
    // The figures are the node's own: a heap in use and the memory held, read from sys/metrics.
    expect(memory.alert.summary).toMatch(
      /heap in use is \d+% of the memory the process holds \(\d+ MiB of \d+ MiB; threshold 1%\)/,
    );
    const none = await until(
      'the snapshot-stale notice',
      async () => noticesOf('snapshot-stale', 'firing')[0],
    );
    expect(none.alert).toMatchObject({ severity: 'high', runbook: 'cluster-failure', labels: {} });
    expect(none.alert.summary).toContain('no verified snapshot at all');
    const text = await metrics();
    expect(text).toContain(`sealwatch_snapshot_max_age_seconds ${SNAPSHOT_MAX_AGE_S}`);
    expect(text).toMatch(/^sealwatch_snapshot_age_seconds \+Inf$/m);
  }, 60_000);

  it('a real snapshot, verified by a restore drill, resolves snapshot-stale', async () => {
    const id = await snapshotAndVerify();
    const resolved = await until(
      'the snapshot-stale resolve notice',
      async () => noticesOf('snapshot-stale', 'resolved')[0],
    );
    expect(resolved.alert.state).toBe('resolved');
    expect(await metrics()).toMatch(/^sealwatch_snapshot_age_seconds \d/m);
    expect(id).toBeTruthy();
  }, 240_000);

  it('lease-count-growth fires on a burst of real token leases and resolves once the window has passed', async () => {
    expect(noticesOf('lease-count-growth', 'firing')).toHaveLength(0);
    await Promise.all(
      Array.from({ length: 60 }, () =>
        vault.write('auth/token/create', { ttl: '1h', policies: ['default'] }),
      ),
    );
    const fired = await until(
      'the lease-count-growth notice',
      async () => noticesOf('lease-count-growth', 'firing')[0],
    );
    expect(fired.alert).toMatchObject({ severity: 'medium', runbook: 'memory', labels: {} });
    const grown = /grew by (\d+) \((\d+) → (\d+)/.exec(fired.alert.summary)!;
    expect(Number(grown[1])).toBeGreaterThanOrEqual(40);
    expect(Number(grown[3]) - Number(grown[2])).toBe(Number(grown[1]));
    // No more leases: once the 20 s window holds no growth the alert resolves (the leases stay).
    const resolved = await until(
      'the lease-count-growth resolve notice',
      async () => noticesOf('lease-count-growth', 'resolved')[0],
      60_000,
    );
    expect(resolved.alert.fingerprint).toBe(fired.alert.fingerprint);
  }, 120_000);

  it('auth-failure-rate fires on a burst of failed userpass logins and resolves when the window is quiet', async () => {
    expect(noticesOf('auth-failure-rate', 'firing')).toHaveLength(0);
    const failed = await Promise.allSettled(
      Array.from({ length: 15 }, () =>
        vault.write('auth/userpass/login/alice', { password: 'not-the-password' }, { token: null }),
      ),
    );
    expect(failed.every((r) => r.status === 'rejected')).toBe(true);
    const fired = await until(
      'the auth-failure-rate notice',
      async () => noticesOf('auth-failure-rate', 'firing')[0],
    );
    expect(fired.alert).toMatchObject({ severity: 'high', runbook: 'auth-failures', labels: {} });
    expect(fired.alert.summary).toMatch(
      /^1[0-5] failed login\(s\) in the last 15 s, against a baseline of 0\.0 per 15 s/,
    );
    expect(await metrics()).toMatch(/sealwatch_failed_logins\{window="recent"\} 1[0-5]/);
    const resolved = await until(
      'the auth-failure-rate resolve notice',
      async () => noticesOf('auth-failure-rate', 'resolved')[0],
      60_000,
    );
    expect(resolved.alert.fingerprint).toBe(fired.alert.fingerprint);
  }, 120_000);

  it('snapshot-stale fires again once the verified snapshot is older than the schedule, and a fresh verified snapshot resolves it', async () => {
    const stale = await until(
      'the stale-snapshot notice',
      async () =>
        noticesOf('snapshot-stale', 'firing').find((n) =>
          n.alert.summary.includes('newest verified snapshot'),
        ),
      (SNAPSHOT_MAX_AGE_S + 30) * 1000,
    );
    expect(stale.alert.summary).toMatch(
      new RegExp(`is \\d+ s old, more than the schedule of ${SNAPSHOT_MAX_AGE_S} s`),
    );
    const resolvedBefore = noticesOf('snapshot-stale', 'resolved').length;
    await snapshotAndVerify();
    await until(
      'the second snapshot-stale resolve notice',
      async () => noticesOf('snapshot-stale', 'resolved').length > resolvedBefore,
    );
  }, 300_000);

  it('raising memory_ratio above the node resolves memory-high', async () => {
    expect(noticesOf('memory-high', 'resolved')).toHaveLength(0);
    await stopWatch();
    writeConfig({ ...RULES, memory_ratio: 0.99 });
    await startWatch();
    const resolved = await until(
      'the memory-high resolve notice',
      async () => noticesOf('memory-high', 'resolved')[0],
    );
    expect(resolved.alert.labels['node']).toBe(lab.lab().nodes[0]!.address);
    // Notified once each way: the restart neither re-sent the firing nor forgot it.
    expect(noticesOf('memory-high', 'firing')).toHaveLength(1);
  }, 60_000);
});
