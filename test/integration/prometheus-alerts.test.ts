import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPrometheusRules, ruleOptions } from '../../src/export/prometheus-rules.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { startPrometheus, type PrometheusAlert, type TestPrometheus } from '../harness/prometheus.js';

/** Polls until `found` answers something, or fails with what was last seen after `timeoutMs`. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  found: () => Promise<T | undefined>,
  seen: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await found();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms; last seen: ${seen()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The generated rules in a real Prometheus (Debian's) scraping a real OpenBao lab node's
 * sys/metrics every second: sealing the node through the API makes the sealed alert fire.
 */
describe('generated rules in a real Prometheus against a real OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let prometheus: TestPrometheus;
  let lastAlerts: PrometheusAlert[] = [];
  const alerts = async () => (lastAlerts = await prometheus.alerts());
  const seen = () => JSON.stringify(lastAlerts.map((a) => [a.labels['alertname'], a.state]));

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 2 });
    vault = lab.client();
    const node = new URL(lab.lab().nodes[0]!.address);
    prometheus = await startPrometheus({
      jobs: [
        {
          job: 'openbao',
          target: node.host,
          metricsPath: '/v1/sys/metrics',
          params: { format: ['prometheus'] },
        },
      ],
      // for: durations a fiftieth of production's (1 min → 1.2 s) so that alerts fire in seconds.
      rules: renderPrometheusRules('rules', { ...ruleOptions({}), forScale: 0.02 }),
    });
  });
  afterAll(async () => {
    await prometheus?.stop();
    await lab?.stop();
  });

  it('sees the node unsealed and active, and the sealed alert silent', async () => {
    const unsealed = await eventually(
      'an unsealed active node in Prometheus',
      30_000,
      async () => {
        const [seal] = await prometheus.query('max by (instance) (vault_core_unsealed{job="openbao"})');
        const [active] = await prometheus.query('max by (instance) (vault_core_active{job="openbao"})');
        return seal?.value[1] === '1' && active?.value[1] === '1' ? seal : undefined;
      },
      () => prometheus.log().slice(-2000),
    );
    expect(unsealed.metric['instance']).toBe(new URL(lab.lab().nodes[0]!.address).host);
    // Two evaluations after the data is there: the alert would be pending or firing by now if it were wrong.
    await new Promise((r) => setTimeout(r, 2500));
    const names = (await alerts()).map((a) => a.labels['alertname']);
    expect(names).not.toContain('OpenBaoSealed');
    expect(names).not.toContain('OpenBaoNoActiveNode');
  });

  it('fires OpenBaoSealed once the node is sealed through the API', async () => {
    const node = lab.lab().nodes[0]!;
    const started = Date.now();
    await vault.seal(node.address);
    expect((await vault.sealStatus(node.address)).sealed).toBe(true);
    const sealed = await eventually(
      'OpenBaoSealed firing',
      30_000,
      async () =>
        (await alerts()).find((a) => a.labels['alertname'] === 'OpenBaoSealed' && a.state === 'firing'),
      seen,
    );
    expect(sealed.labels).toMatchObject({
      severity: 'critical',
      job: 'openbao',
      instance: new URL(node.address).host,
    });
    expect(sealed.annotations['runbook']).toBe('sealwatch runbook diagnose sealed');
    expect(Date.now() - started).toBeLessThan(30_000);
    // The sealed node is no longer active either.
    await eventually(
      'OpenBaoNoActiveNode firing',
      30_000,
      async () =>
        (await alerts()).find((a) => a.labels['alertname'] === 'OpenBaoNoActiveNode' && a.state === 'firing'),
      seen,
    );
  });

  it('fires OpenBaoNodeDown once the node process is gone (up == 0)', async () => {
    const node = lab.lab().nodes[0]!;
    process.kill(node.pid, 'SIGKILL');
    const down = await eventually(
      'OpenBaoNodeDown firing',
      30_000,
      async () =>
        (await alerts()).find((a) => a.labels['alertname'] === 'OpenBaoNodeDown' && a.state === 'firing'),
      seen,
    );
    expect(down.labels).toMatchObject({ severity: 'critical', instance: new URL(node.address).host });
  });
});
