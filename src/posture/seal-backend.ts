import type { VaultClient } from '../vault/client.js';
import { BadRequestError } from '../vault/errors.js';

/**
 * What the server last learnt about its auto-unseal backend. OpenBao keeps no seal address in
 * `sys/config/state/sanitized` (only each seal's `type` and `disabled`) and `sys/seal-status` and
 * `sys/health` stay unchanged while the backend is down, so the one view of it that needs no secret is
 * the server's own seal health check: every `health_check_interval` (10m by default, 1m while failing)
 * it encrypts and decrypts a test value through the seal and sets the gauge `seal.unreachable.time`
 * to the milliseconds since the last success (0 when it succeeds).
 */
export type SealBackendHealth =
  | { state: 'answers'; source: SealMetricSource }
  | { state: 'unreachable'; unreachable_ms: number; source: SealMetricSource }
  | { state: 'unknown'; reason: string };

export type SealMetricSource = 'sys/metrics?format=prometheus' | 'sys/metrics';

/** The gauge as Prometheus names it, with any `metrics_prefix` (OpenBao keeps `vault`). */
const PROMETHEUS_GAUGE = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*_)?seal_unreachable_time(?:\{[^}]*\})?\s+(\S+)/gm;
/** The gauge in the in-memory sink's JSON, whatever the prefix. */
const JSON_GAUGE = /(^|\.)seal\.unreachable\.time$/;

const NOT_YET =
  'the server has not reported a seal health check yet (the first runs health_check_interval, 10m by default, after unseal)';

/**
 * Reads the gauge from `sys/metrics`: Prometheus text when the server keeps it
 * (`prometheus_retention_time` set), else the in-memory sink's JSON, which holds a gauge only for the
 * interval it was set in. Permission errors propagate (the caller reports what it could not read).
 */
export async function sealBackendHealth(vault: Pick<VaultClient, 'metricsPrometheus' | 'metricsJson'>) {
  let text: string | undefined;
  try {
    text = await vault.metricsPrometheus();
  } catch (error) {
    // 400 "prometheus is not enabled": no Prometheus sink configured; the JSON sink is always there.
    if (!(error instanceof BadRequestError)) throw error;
  }
  if (text !== undefined) {
    const values = [...text.matchAll(PROMETHEUS_GAUGE)].map((m) => Number(m[1]));
    return fromValues(values, 'sys/metrics?format=prometheus');
  }
  const json = await vault.metricsJson();
  const gauges = Array.isArray(json['Gauges']) ? (json['Gauges'] as unknown[]) : [];
  const values = gauges.flatMap((g) => {
    if (!g || typeof g !== 'object') return [];
    const { Name, Value } = g as { Name?: unknown; Value?: unknown };
    return typeof Name === 'string' && JSON_GAUGE.test(Name) && typeof Value === 'number' ? [Value] : [];
  });
  return fromValues(
    values,
    'sys/metrics',
    ' or the in-memory metrics sink has dropped it (set telemetry { prometheus_retention_time = "24h" })',
  );
}

function fromValues(values: number[], source: SealMetricSource, hint = ''): SealBackendHealth {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return { state: 'unknown', reason: `${NOT_YET}${hint}` };
  const worst = Math.max(...finite);
  return worst > 0 ? { state: 'unreachable', unreachable_ms: worst, source } : { state: 'answers', source };
}
