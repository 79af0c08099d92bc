import { z } from 'zod';
import { UsageError } from '../../errors.js';
import type { VaultClient } from '../../vault/client.js';
import { UnreachableError, VaultTimeoutError } from '../../vault/errors.js';
import type { Finding } from '../finding.js';
import { countLeases, mountOfPrefix, type LeaseCount } from '../memory/leases.js';
import { gauge, parsePrometheus, type PrometheusSample } from '../memory/prometheus.js';
import { shortError } from '../nodes.js';
import type { Runbook, RunbookDeps } from '../runbook.js';

/**
 * Default lease-count threshold. OpenBao only logs a warning at 256,000 leases (maxLeaseThreshold
 * in vault/expiration.go); by then every unseal and leader change is slow, because the new active
 * node loads every lease before it serves, and revoking them takes minutes. 10,000 is two orders of
 * magnitude above a quiet cluster (the seeded lab holds about ten) and still cheap to clean up.
 */
export const DEFAULT_MAX_LEASES = 10_000;
/**
 * Heap in use (vault.runtime.alloc_bytes) above this share of the memory the process holds from the
 * OS (sys_bytes) is memory pressure: the Go runtime has little left to hand out before it must ask
 * for more. `sealwatch watch`'s memory-high alert uses the same threshold.
 */
export const DEFAULT_MEMORY_RATIO = 0.8;
/** Where OpenBao itself starts warning about the lease count: past it the finding is high. */
export const SERVER_LEASE_WARNING = 256_000;
/** An idle OpenBao node runs about 600 goroutines; a leak (stuck requests, plugins) climbs far past this. */
export const DEFAULT_MAX_GOROUTINES = 10_000;

/** LIST requests one diagnosis may spend walking the lease tree (a few round trips, well under 3 s). */
const DIAGNOSE_MAX_LISTS = 300;
/** The walk that counts a prefix before and after revoking it may go further. */
const REVOKE_MAX_LISTS = 2_000;
const TOP_PREFIXES = 5;

const prefixSchema = z
  .string()
  .transform((p) => p.replace(/^\/+|\/+$/g, ''))
  .refine((p) => p !== '', 'give a lease prefix such as auth/token/create (not every lease at once)')
  .transform((p) => `${p}/`);

const optionsSchema = z.object({
  /** Runtime alloc/sys bytes above this is memory pressure. */
  memoryRatio: z.number().gt(0).lte(1).default(DEFAULT_MEMORY_RATIO),
  maxGoroutines: z.int().min(1).default(DEFAULT_MAX_GOROUTINES),
  maxLeases: z.int().min(1).default(DEFAULT_MAX_LEASES),
  /** Lease prefixes to revoke (sys/leases/revoke-prefix). */
  prefix: z.array(prefixSchema).default([]),
});
type MemoryOptions = z.infer<typeof optionsSchema>;

interface NodeTelemetry {
  node: string;
  error?: string;
  active?: boolean;
  allocBytes?: number;
  sysBytes?: number;
  goroutines?: number;
  leases?: number;
  irrevocable?: number;
}

/**
 * One node's runtime and expiration gauges. The Prometheus format first (it keeps the last value of
 * every gauge); a server without prometheus_retention_time gets the JSON (inmem) format instead.
 */
async function nodeTelemetry(vault: VaultClient, node: string): Promise<NodeTelemetry> {
  let samples: Map<string, PrometheusSample[]>;
  try {
    samples = parsePrometheus(await vault.metricsPrometheus(node));
    if (samples.size === 0) throw new Error('no samples');
  } catch (prometheusError) {
    // A node that does not answer is not asked again: diagnose has seconds, not two timeouts.
    if (prometheusError instanceof UnreachableError || prometheusError instanceof VaultTimeoutError)
      return { node, error: shortError(prometheusError) };
    try {
      samples = fromJson(await vault.metricsJson(node));
    } catch {
      // Both formats failed: the first error is the one reported.
      return { node, error: shortError(prometheusError) };
    }
  }
  const g = (name: string) => gauge(samples, name);
  return {
    node,
    active: g('vault_core_active') === 1,
    allocBytes: g('vault_runtime_alloc_bytes'),
    sysBytes: g('vault_runtime_sys_bytes'),
    goroutines: g('vault_runtime_num_goroutines'),
    leases: g('vault_expire_num_leases'),
    irrevocable: g('vault_expire_num_irrevocable_leases'),
  };
}

/** The JSON format's gauges under their Prometheus names (`vault.runtime.alloc_bytes` → `vault_runtime_alloc_bytes`). */
function fromJson(body: Record<string, unknown>): Map<string, PrometheusSample[]> {
  const samples = new Map<string, PrometheusSample[]>();
  const gauges = Array.isArray(body['Gauges']) ? (body['Gauges'] as unknown[]) : [];
  for (const entry of gauges) {
    if (!entry || typeof entry !== 'object') continue;
    const { Name, Value, Labels } = entry as { Name?: unknown; Value?: unknown; Labels?: unknown };
    if (typeof Name !== 'string' || typeof Value !== 'number') continue;
    const name = Name.replace(/[.-]/g, '_');
    const list = samples.get(name) ?? [];
    list.push({ labels: (Labels ?? {}) as Record<string, string>, value: Value });
    samples.set(name, list);
  }
  if (samples.size === 0) throw new Error('no gauges in sys/metrics');
  return samples;
}

async function mountPaths(vault: VaultClient): Promise<string[]> {
  const [secrets, auth] = await Promise.all([vault.listMounts(), vault.listAuthMounts()]);
  return [...Object.keys(secrets), ...Object.keys(auth).map((p) => `auth/${p}`)];
}

interface PrefixReport {
  prefix: string;
  mount: string | null;
  leases: number;
  /** TTLs (seconds) of a couple of its leases: how long they would live if nobody revoked them. */
  ttl_sample_seconds: number[];
  expire_time_sample: (string | null)[];
}

/** The prefixes that hold most leases, with their mount and the TTL of a sample lease or two. */
async function topPrefixes(
  vault: VaultClient,
  count: LeaseCount,
  mounts: readonly string[],
): Promise<PrefixReport[]> {
  return Promise.all(
    count.byPrefix.slice(0, TOP_PREFIXES).map(async (p) => {
      // A sampled lease may expire between the count and the lookup; its TTL is then not shown.
      const looked = await Promise.all(p.sample.map((id) => vault.leaseLookup(id).catch(() => undefined)));
      const found = looked.filter((l) => l !== undefined);
      return {
        prefix: p.prefix,
        mount: mountOfPrefix(p.prefix, mounts) ?? null,
        leases: p.leases,
        ttl_sample_seconds: found.map((l) => l.ttl),
        expire_time_sample: found.map((l) => l.expire_time),
      };
    }),
  );
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** Only the Vault client is needed: the diagnosis reads telemetry and the lease tree, nothing else. */
export async function diagnoseMemory(
  deps: Pick<RunbookDeps, 'vault'>,
  options: MemoryOptions,
): Promise<Finding[]> {
  const { vault } = deps;
  const [telemetry, walked, mounts] = await Promise.all([
    Promise.all(vault.addresses.map((node) => nodeTelemetry(vault, node))),
    countLeases(vault, '', { maxLists: DIAGNOSE_MAX_LISTS }).catch((error: unknown) => shortError(error)),
    // Mount names only label the prefixes; without them the prefixes are still counted and reported.
    mountPaths(vault).catch(() => [] as string[]),
  ]);
  const findings: Finding[] = [];
  for (const t of telemetry) {
    if (t.error) {
      findings.push({
        id: 'metrics-unavailable',
        severity: 'medium',
        symptom: `${t.node} gives no telemetry: ${t.error}`,
        evidence: { error: t.error },
        node: t.node,
        suggested_step:
          'check the node answers and has a telemetry stanza (prometheus_retention_time; unauthenticated_metrics_access or a token that may read sys/metrics)',
      });
      continue;
    }
    if (t.allocBytes !== undefined && t.sysBytes !== undefined && t.sysBytes > 0) {
      const ratio = Math.round((t.allocBytes / t.sysBytes) * 1000) / 1000;
      if (ratio > options.memoryRatio)
        findings.push({
          id: 'memory-pressure',
          severity: 'high',
          symptom: `${t.node}: heap in use is ${Math.round(ratio * 100)}% of the memory the process holds (${mib(t.allocBytes)} of ${mib(t.sysBytes)})`,
          evidence: {
            alloc_bytes: t.allocBytes,
            sys_bytes: t.sysBytes,
            ratio,
            threshold: options.memoryRatio,
          },
          node: t.node,
          suggested_step:
            'find what holds memory: lease count and top prefixes (below), request rate; revoke runaway leases (sealwatch runbook run memory --prefix P), then give the node more memory if it stays high',
        });
    }
    if (t.goroutines !== undefined && t.goroutines > options.maxGoroutines)
      findings.push({
        id: 'goroutines-high',
        severity: 'medium',
        symptom: `${t.node} runs ${t.goroutines} goroutines (threshold ${options.maxGoroutines})`,
        evidence: { goroutines: t.goroutines, threshold: options.maxGoroutines },
        node: t.node,
        suggested_step:
          'look for stuck requests and plugins: take a goroutine profile (bao debug -target=pprof) before restarting the node',
      });
    if (t.irrevocable !== undefined && t.irrevocable > 0)
      findings.push({
        id: 'irrevocable-leases',
        severity: 'medium',
        symptom: `${t.node} holds ${t.irrevocable} irrevocable lease(s): their backend refused revocation`,
        evidence: { irrevocable_leases: t.irrevocable },
        node: t.node,
        suggested_step:
          'fix the backend (database, cloud credentials) and revoke again; sys/leases/revoke-force only as a last resort, it may leave credentials live',
      });
  }
  const active = telemetry.find((t) => t.active);
  const telemetryLeases = active?.leases ?? Math.max(0, ...telemetry.map((t) => t.leases ?? 0));
  if (typeof walked === 'string') {
    findings.push({
      id: 'lease-walk-failed',
      severity: 'medium',
      symptom: `the leases could not be listed (sys/leases/lookup): ${walked}`,
      evidence: { error: walked, telemetry_num_leases: telemetryLeases },
      suggested_step: 'use a token that may LIST sys/leases/lookup/* (sudo), then diagnose again',
    });
    if (telemetryLeases > options.maxLeases) findings.push(leaseCountFinding(options, telemetryLeases, {}));
    return findings;
  }
  const prefixes = await topPrefixes(vault, walked, mounts);
  // The walk is exact when it finished; the gauge lags by up to ten seconds but sees everything.
  const leases = walked.complete ? walked.total : Math.max(walked.total, telemetryLeases);
  findings.push(
    leaseCountFinding(options, leases, {
      counted: walked.total,
      complete: walked.complete,
      telemetry_num_leases: telemetryLeases,
      top_prefixes: prefixes,
    }),
  );
  return findings;
}

function leaseCountFinding(
  options: MemoryOptions,
  leases: number,
  evidence: Record<string, unknown>,
): Finding {
  const top = (evidence['top_prefixes'] as PrefixReport[] | undefined)?.[0];
  const where = top ? `; most under ${top.prefix} (${top.leases})` : '';
  if (leases <= options.maxLeases)
    return {
      id: 'lease-count',
      severity: 'info',
      symptom: `${leases} lease(s), threshold ${options.maxLeases}${where}`,
      evidence: { leases, threshold: options.maxLeases, ...evidence },
      suggested_step: 'nothing to do',
    };
  return {
    id: 'lease-count-high',
    severity: leases >= SERVER_LEASE_WARNING ? 'high' : 'medium',
    symptom: `${leases} leases, above the threshold of ${options.maxLeases}${where}`,
    evidence: { leases, threshold: options.maxLeases, ...evidence },
    suggested_step: top
      ? `check the clients behind ${top.prefix} (TTL ${top.ttl_sample_seconds.join('/') || '?'} s), then revoke the runaway ones: sealwatch runbook run memory --prefix ${top.prefix}; shorten the mount's default/max TTL`
      : 'find the prefixes holding the leases (sys/leases/lookup) and revoke them with sealwatch runbook run memory --prefix P',
  };
}

export const memoryRunbook: Runbook<MemoryOptions> = {
  name: 'memory',
  title: 'High memory use and lease explosions',
  when: 'a node uses more and more memory, is OOM-killed, or unseal/failover takes long; lease count keeps growing',
  flags: [
    {
      flags: '--memory-ratio <ratio>',
      description: 'runtime alloc/sys bytes above this is memory pressure (default 0.8)',
      diagnose: true,
      parse: (value) => number('--memory-ratio', value),
    },
    {
      flags: '--max-goroutines <n>',
      description: `goroutines per node above this is a finding (default ${DEFAULT_MAX_GOROUTINES})`,
      diagnose: true,
      parse: (value) => number('--max-goroutines', value),
    },
    {
      flags: '--max-leases <n>',
      description: `lease count above this is a finding (default ${DEFAULT_MAX_LEASES})`,
      diagnose: true,
      parse: (value) => number('--max-leases', value),
    },
    {
      flags: '--prefix <prefix>',
      description: 'revoke every lease under this prefix (repeatable), e.g. auth/token/create',
      parse: (value, previous) => [...((previous as string[] | undefined) ?? []), value],
    },
  ],
  options: optionsSchema,
  diagnose: diagnoseMemory,
  remediation: (deps, options) => [
    {
      id: 'revoke-prefix',
      title: 'Revoke runaway leases by prefix',
      targetSeconds: 300,
      needsApproval: true,
      skip: async () =>
        options.prefix.length === 0
          ? 'no --prefix given: the diagnosis lists the prefixes holding most leases; run again with --prefix P to revoke them'
          : undefined,
      plan: async () =>
        Promise.all(
          options.prefix.map(async (prefix) => {
            const count = await countLeases(deps.vault, prefix, { maxLists: REVOKE_MAX_LISTS });
            return {
              action: `revoke the ${count.total}${count.complete ? '' : '+'} lease(s) under ${prefix} (sys/leases/revoke-prefix/${prefix})`,
              details: { prefix, leases: count.total, complete: count.complete },
              destructive: true,
            };
          }),
        ),
      run: async (ctx) => {
        const revoked: { prefix: string; before: number; after: number }[] = [];
        for (const prefix of options.prefix) {
          const before = await countLeases(deps.vault, prefix, { maxLists: REVOKE_MAX_LISTS });
          if (before.total > 0) {
            ctx.progress(`revoking ${before.total} lease(s) under ${prefix}`);
            await deps.vault.leaseRevokePrefix(prefix, { sync: true });
          } else ctx.progress(`no lease under ${prefix}`);
          const after = await countLeases(deps.vault, prefix, { maxLists: REVOKE_MAX_LISTS });
          revoked.push({ prefix, before: before.total, after: after.total });
        }
        return { evidence: { prefixes: revoked } };
      },
      verify: async () => {
        const left = await Promise.all(
          options.prefix.map(async (prefix) => ({
            prefix,
            leases: (await countLeases(deps.vault, prefix, { maxLists: REVOKE_MAX_LISTS })).total,
          })),
        );
        const live = left.filter((l) => l.leases > 0);
        return {
          ok: live.length === 0,
          evidence: {
            left,
            ...(live.length > 0
              ? {
                  hint: `new leases appeared under ${live.map((l) => l.prefix).join(', ')} after the revoke: the client creating them is still running; stop it and run again`,
                }
              : {}),
          },
        };
      },
    },
    {
      id: 'tidy',
      title: 'Tidy the lease store',
      targetSeconds: 30,
      needsApproval: false,
      plan: async () => [
        {
          action: 'start sys/leases/tidy: removes lease entries whose token is gone (runs in the background)',
        },
      ],
      run: async () => {
        await deps.vault.leaseTidy();
        return { evidence: { tidy: 'started' } };
      },
    },
  ],
};

function number(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} ${value}: give a number`);
  return n;
}
