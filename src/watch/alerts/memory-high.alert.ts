import type { AlertRule } from '../alert-rule.js';

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

/**
 * The active node's heap in use (vault.runtime.alloc_bytes) is above the memory runbook's share of
 * the memory the process holds (sys_bytes): the same reading and threshold as
 * `sealwatch runbook diagnose memory`. Only the active node answers sys/metrics with data.
 */
export const memoryHighAlert: AlertRule = {
  id: 'memory-high',
  severity: 'high',
  forMs: 0,
  runbook: 'memory',
  description: "the active node's heap in use is above the memory runbook's share of the memory it holds",
  evaluate: (sample, context) => {
    if (!sample.telemetry?.ok) return undefined;
    const { node, allocBytes, sysBytes } = sample.telemetry.value;
    // A server that exports no runtime gauges was not looked at, which is not "memory is fine".
    if (allocBytes === undefined || sysBytes === undefined || sysBytes <= 0) return undefined;
    const ratio = allocBytes / sysBytes;
    const threshold = context.settings.memoryRatio;
    return ratio > threshold
      ? [
          {
            labels: { node },
            summary: `${node}: heap in use is ${Math.round(ratio * 100)}% of the memory the process holds (${mib(allocBytes)} of ${mib(sysBytes)}; threshold ${Math.round(threshold * 100)}%)`,
          },
        ]
      : [];
  },
};
