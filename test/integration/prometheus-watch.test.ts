import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../../src/util/ports.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { startPrometheus, type PrometheusAlert, type TestPrometheus } from '../harness/prometheus.js';
import { activeNode, until } from '../harness/raft-faults.js';
import { startWatchProcess, type WatchProcess } from '../harness/watch-process.js';

/**
 * The whole chain as an operator deploys it: a real Prometheus (Debian's) scrapes the 3 nodes of a
 * real OpenBao lab (job "openbao") and a real `sealwatch watch` process (job "sealwatch"), and
 * evaluates the rules exactly as `sealwatch export prometheus-rules` writes them. Sealing a
 * standby fires both the telemetry rule (OpenBaoSealed) and the watch-metric rule
 * (SealwatchNodeSealed) for that node, seen through Prometheus's HTTP API.
 */
describe('Prometheus scraping OpenBao and sealwatch watch, with the exported rules', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let prometheus: TestPrometheus;
  let watch: WatchProcess;
  let dir: string;
  let lastAlerts: PrometheusAlert[] = [];
  const alerts = async () => (lastAlerts = await prometheus.alerts());
  const seen = () => JSON.stringify(lastAlerts.map((a) => [a.labels['alertname'], a.state, a.labels]));
  const firing = async (name: string, match: (a: PrometheusAlert) => boolean = () => true) =>
    (await alerts()).find((a) => a.labels['alertname'] === name && a.state === 'firing' && match(a));

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 1 });
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-prom-watch-'));
    const config = join(dir, 'sealwatch.yaml');
    writeFileSync(
      config,
      stringify({
        vault: { addresses: lab.lab().nodes.map((n) => n.address) },
        store: { url: join(dir, 'sealwatch.db') },
        // No snapshot was ever verified here: the generated stale-snapshot rule must see that too.
        watch: { node_timeout: '2s', rules: { snapshot_max_age: '1h' } },
      }),
    );
    const metricsPort = await freePort();
    watch = await startWatchProcess({
      config,
      metricsPort,
      env: { BAO_TOKEN: lab.lab().root_token },
      args: ['--interval', '1s'],
    });
    const rules = await runCli(['export', 'prometheus-rules']);
    expect(rules.code, rules.stderr).toBe(0);
    const [first, ...others] = lab.lab().nodes.map((n) => new URL(n.address).host);
    prometheus = await startPrometheus({
      jobs: [
        {
          job: 'openbao',
          target: first!,
          moreTargets: others,
          metricsPath: '/v1/sys/metrics',
          params: { format: ['prometheus'] },
        },
        { job: 'sealwatch', target: `127.0.0.1:${metricsPort}`, metricsPath: '/metrics' },
      ],
      rules: rules.stdout,
    });
  }, 240_000);

  afterAll(async () => {
    await prometheus?.stop();
    await watch?.stop();
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes the three nodes and watch, with the loaded rules quiet', async () => {
    await until(
      'every target up',
      async () => {
        const up = await prometheus.query('up');
        const byJob = (job: string) => up.filter((s) => s.metric['job'] === job && s.value[1] === '1').length;
        return byJob('openbao') === 3 && byJob('sealwatch') === 1;
      },
      30_000,
    );
    await until(
      "watch's node gauges in Prometheus",
      async () => (await prometheus.query('sealwatch_node_sealed{job="sealwatch"} == 0')).length === 3,
      30_000,
    );
    const names = (await alerts()).map((a) => a.labels['alertname']);
    expect(names).not.toContain('OpenBaoSealed');
    expect(names).not.toContain('SealwatchNodeSealed');
  }, 60_000);

  it("fires SealwatchSnapshotStale from watch's snapshot gauges when no snapshot was ever verified", async () => {
    const stale = await until(
      'SealwatchSnapshotStale firing',
      () => firing('SealwatchSnapshotStale'),
      30_000,
    );
    expect(stale.labels).toMatchObject({ severity: 'warning', job: 'sealwatch' });
    const [age] = await prometheus.query('sealwatch_snapshot_age_seconds{job="sealwatch"}');
    expect(age?.value[1]).toBe('+Inf');
    const [max] = await prometheus.query('sealwatch_snapshot_max_age_seconds{job="sealwatch"}');
    expect(max?.value[1]).toBe('3600');
  }, 60_000);

  it('fires SealwatchNodeSealed and OpenBaoSealed for the sealed standby, and clears them once it is unsealed', async () => {
    const leader = await activeNode(lab, vault);
    const standby = lab.lab().nodes.find((n) => n.address !== leader.address)!;
    await vault.seal(standby.address);
    const fromWatch = await until(
      'SealwatchNodeSealed firing',
      () => firing('SealwatchNodeSealed', (a) => a.labels['node'] === standby.address),
      30_000,
    ).catch((error: Error) => Promise.reject(new Error(`${error.message}; last seen ${seen()}`)));
    expect(fromWatch.labels).toMatchObject({ severity: 'critical', job: 'sealwatch' });
    expect(fromWatch.annotations['runbook']).toBe('sealwatch runbook diagnose sealed');
    const fromTelemetry = await until(
      'OpenBaoSealed firing',
      () => firing('OpenBaoSealed', (a) => a.labels['instance'] === new URL(standby.address).host),
      30_000,
    ).catch((error: Error) => Promise.reject(new Error(`${error.message}; last seen ${seen()}`)));
    expect(fromTelemetry.labels).toMatchObject({ severity: 'critical', job: 'openbao' });
    // Only the sealed node: the leader and the other standby are not reported.
    const sealedNodes = (await alerts())
      .filter((a) => a.labels['alertname'] === 'SealwatchNodeSealed')
      .map((a) => a.labels['node']);
    expect(sealedNodes).toEqual([standby.address]);

    for (const key of lab.lab().unseal_keys.slice(0, 3)) await vault.unseal(standby.address, key);
    await until(
      'both sealed alerts cleared',
      async () =>
        !(await alerts()).some((a) =>
          ['SealwatchNodeSealed', 'OpenBaoSealed'].includes(a.labels['alertname']!),
        ),
      60_000,
    );
  }, 120_000);
});
