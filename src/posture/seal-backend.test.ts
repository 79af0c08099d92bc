import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../vault/errors.js';
import { sealBackendHealth } from './seal-backend.js';

/** A fake of the two metrics calls: the parsing is pure; the integration test reads a real server. */
const metrics = (prometheus: string | Error, json: Record<string, unknown> = {}) => ({
  metricsPrometheus: () =>
    prometheus instanceof Error ? Promise.reject(prometheus) : Promise.resolve(prometheus),
  metricsJson: () => Promise.resolve(json),
});

describe('the seal health gauge', () => {
  it('reads the worst value of the Prometheus gauge, whatever the metrics prefix', async () => {
    const text = [
      '# TYPE vault_seal_unreachable_time gauge',
      'vault_seal_unreachable_time{cluster=""} 0',
      'vault_seal_unreachable_time{cluster="c1"} 9006',
      'vault_seal_encrypt 15',
    ].join('\n');
    expect(await sealBackendHealth(metrics(text))).toEqual({
      state: 'unreachable',
      unreachable_ms: 9006,
      source: 'sys/metrics?format=prometheus',
    });
    expect(await sealBackendHealth(metrics('bao_seal_unreachable_time 0\n'))).toMatchObject({
      state: 'answers',
    });
    expect(await sealBackendHealth(metrics('vault_seal_encrypt 1\n'))).toMatchObject({ state: 'unknown' });
  });

  it('falls back to the JSON sink when Prometheus is not enabled (400), and says when the gauge is missing', async () => {
    const notEnabled = new BadRequestError({ path: 'sys/metrics', node: 'n', method: 'GET', status: 400 });
    const json = { Gauges: [{ Name: 'vault.seal.unreachable.time', Value: 0, Labels: {} }] };
    expect(await sealBackendHealth(metrics(notEnabled, json))).toEqual({
      state: 'answers',
      source: 'sys/metrics',
    });
    const empty = await sealBackendHealth(metrics(notEnabled, { Gauges: [] }));
    expect(empty).toMatchObject({ state: 'unknown' });
    expect(empty.state === 'unknown' && empty.reason).toContain('prometheus_retention_time');
  });

  it('lets a refusal through for the check to report', async () => {
    await expect(sealBackendHealth(metrics(new Error('permission denied')))).rejects.toThrow(
      'permission denied',
    );
  });
});
