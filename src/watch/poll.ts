import { errorMessage } from '../errors.js';
import { listenerKey, probeTls, type ListenerAddress } from '../runbooks/cert-expiry/tls-probe.js';
import { gauge, parsePrometheus } from '../runbooks/memory/prometheus.js';
import type { VaultClient } from '../vault/client.js';
import type {
  AuditFailureCounters,
  AutopilotSample,
  ClusterSample,
  LeaderTelemetry,
  NodeSample,
  Observed,
  TlsSample,
  WatchFaults,
} from './sample.js';

export interface PollDeps {
  /** A client with the per-node timeout and no retries (a hung node costs one timeout, once). */
  vault: Pick<VaultClient, 'health' | 'sealStatus' | 'autopilotState' | 'metricsPrometheus'>;
  nodes: readonly string[];
  /** The deadline of one node's poll, enforced here too (a promise that never settles cannot hold a cycle). */
  timeoutMs: number;
  /** TLS listeners whose certificates this cycle reads by handshake (none: not this cycle). */
  tlsListeners?: readonly ListenerAddress[] | undefined;
}

/** Polls every node at once, then asks the active node for autopilot state and telemetry. */
export async function pollCluster(deps: PollDeps, faults: WatchFaults): Promise<ClusterSample> {
  const at = new Date();
  const [nodes, tls] = await Promise.all([
    Promise.all(deps.nodes.map((node) => pollNode(deps, node))),
    deps.tlsListeners
      ? Promise.all(deps.tlsListeners.map((l) => probeListener(l, deps.timeoutMs)))
      : undefined,
  ]);
  const leader = nodes.find((n) => n.active)?.address;
  const [autopilot, metricsText] = leader
    ? await Promise.all([
        observe(deps.timeoutMs, async (): Promise<AutopilotSample> => {
          const state = await deps.vault.autopilotState(leader);
          return { healthy: state.healthy, failureTolerance: state.failure_tolerance };
        }),
        observe(deps.timeoutMs, () => deps.vault.metricsPrometheus(leader)),
      ])
    : [undefined, undefined];
  // One scrape of the active node feeds every telemetry rule.
  const auditFailures = metricsText && mapObserved(metricsText, auditFailureCounters);
  const telemetry =
    metricsText && leader ? mapObserved(metricsText, (t) => leaderTelemetry(leader, t)) : undefined;
  return { at, nodes, leader, autopilot, auditFailures, telemetry, faults, tls };
}

function mapObserved<T, U>(observed: Observed<T>, map: (value: T) => U): Observed<U> {
  return observed.ok ? { ok: true, value: map(observed.value) } : observed;
}

/** The runtime and lease gauges in the active node's Prometheus text (the memory runbook's reading). */
export function leaderTelemetry(node: string, text: string): LeaderTelemetry {
  const samples = parsePrometheus(text);
  return {
    node,
    allocBytes: gauge(samples, 'vault_runtime_alloc_bytes'),
    sysBytes: gauge(samples, 'vault_runtime_sys_bytes'),
    leases: gauge(samples, 'vault_expire_num_leases'),
  };
}

async function pollNode(deps: PollDeps, address: string): Promise<NodeSample> {
  const started = performance.now();
  const [health, seal] = await Promise.all([
    observe(deps.timeoutMs, () => deps.vault.health(address)),
    observe(deps.timeoutMs, () => deps.vault.sealStatus(address)),
  ]);
  const pollSeconds = (performance.now() - started) / 1000;
  if (!health.ok)
    return {
      address,
      up: false,
      error: health.reason,
      httpStatus: undefined,
      sealed: undefined,
      initialized: undefined,
      active: false,
      version: undefined,
      buildDate: undefined,
      pollSeconds,
    };
  const h = health.value;
  return {
    address,
    up: true,
    error: undefined,
    httpStatus: h.httpStatus,
    sealed: h.sealed,
    initialized: h.initialized,
    active: h.httpStatus === 200,
    version: h.version,
    // OpenBao 2.6 renamed build_date to commit_date.
    buildDate: seal.ok ? (seal.value.commit_date ?? seal.value.build_date) : undefined,
    pollSeconds,
  };
}

/** The certificate a listener serves, read by one handshake (tls-probe.ts, as the cert-expiry runbook). */
async function probeListener(listener: ListenerAddress, timeoutMs: number): Promise<TlsSample> {
  const result = await probeTls(listener, { timeoutMs });
  return {
    listener: listenerKey(listener),
    certificate: result.ok
      ? {
          ok: true,
          value: {
            daysLeft: result.probe.leaf.days_left,
            notAfter: result.probe.leaf.not_after,
            subject: result.probe.leaf.subject,
          },
        }
      : { ok: false, reason: result.error },
  };
}

/** Runs a read with a hard deadline; a failure or a timeout is the reason, never a default value. */
export async function observe<T>(timeoutMs: number, read: () => Promise<T>): Promise<Observed<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Observed<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([
      read().then(
        (value): Observed<T> => ({ ok: true, value }),
        (error: unknown): Observed<T> => ({ ok: false, reason: errorMessage(error) }),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The audit failure counters in the active node's Prometheus text. go-metrics exports a counter only
 * once it was first incremented, so an absent series is a count of 0 on a node that answered.
 */
export function auditFailureCounters(text: string): AuditFailureCounters {
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(name) && /^[a-z_]+(\{[^}]*\})? /.test(line))
      .filter((line) => line.slice(name.length).match(/^(\{| )/))
      .reduce((total, line) => total + Number(line.split(' ').pop()), 0);
  return {
    requestFailures: sum('vault_audit_log_request_failure'),
    responseFailures: sum('vault_audit_log_response_failure'),
  };
}
