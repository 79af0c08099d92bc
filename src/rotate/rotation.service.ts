import { randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import { parseDuration } from '../util/duration.js';
import { ConfigError, SealwatchError, UsageError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Store } from '../store/store.js';
import type {
  RotationItem as StoredRotationItem,
  RotationRun,
  RunState,
} from '../store/repositories/rotation.repository.js';
import { mustParsePathTemplate } from '../config/path-template.js';
import { locateSecrets } from '../tenants/secret-locator.js';
import { listTenants } from '../tenants/tenant-source.js';
import type { VaultClient } from '../vault/client.js';
import { RotationEngine, type EngineProgress, type UnrecordedFailure } from './rotation.engine.js';
import { isRotatorKind, ROTATOR_KINDS, type Rotator, type RotatorKind } from './rotator.js';

/** A journalled item of a kind this sealwatch rotates (the store keeps kinds as names). */
type RotationItem = StoredRotationItem<RotatorKind>;

export interface RotationDeps {
  vault: Pick<VaultClient, 'kv' | 'mountOf' | 'list'>;
  store: Pick<Store, 'rotations'>;
  config: Pick<Config, 'tenancy' | 'rotation'>;
  rotators: Readonly<Record<RotatorKind, Rotator>>;
  logger: Logger;
}

export interface Selection {
  tenants: string[] | 'all';
  kinds?: RotatorKind[];
  /** Overrides of the config's limits for this run. */
  concurrency?: number;
  rate?: number;
  incidentId?: string;
}

export interface PlannedSecret {
  tenant: string;
  kind: RotatorKind;
  path: string;
}

/** The plan is data: what `--dry-run` prints and what `start` journals. */
export interface RotationPlan {
  kinds: RotatorKind[];
  tenants: string[];
  secrets: PlannedSecret[];
  /** Requested tenants the tenancy source does not know. */
  unknown_tenants: string[];
  /** Tenant and kind for which the template matched no secret. */
  unmatched: { tenant: string; kind: RotatorKind; template: string }[];
  excluded: string[];
  limits: { concurrency: number; per_target: number; rate: number; attempts: number; grace_period: string };
}

export interface KindCounts {
  rotated: number;
  failed: number;
  skipped: number;
  rolled_back: number;
}

/**
 * The run summary (`rotate --json`). `failed` counts every secret that did not rotate because of an
 * error, rolled back or not; `rolled_back` is the part of them whose old value was restored.
 */
export interface RotationSummary extends KindCounts {
  run_id: string;
  state: RunState;
  total: number;
  /** Not finished yet (interrupted, or the cluster was sealed): `rotate resume` continues them. */
  pending: number;
  /** Rotated, with the old version kept until its grace period ends. */
  retire_pending: number;
  by_kind: Partial<Record<RotatorKind, KindCounts>>;
  failures: { tenant: string; kind: RotatorKind; phase: string; reason: string }[];
  records: { tenant: string; event: string; details: Record<string, unknown> }[];
  created_at: string;
  incident_id: string | null;
}

export class RunNotFoundError extends SealwatchError {
  constructor(runId: string) {
    super('run_not_found', `no rotation run ${runId} in the store (sealwatch rotate list shows the runs)`);
  }
}

const UNKNOWN_TENANT_PREFIX = 'unknown-tenant:';

export function createRotation(deps: RotationDeps) {
  const { config, store, logger } = deps;
  const kindsOf = (selection: Selection): RotatorKind[] => {
    const configured = [...new Set(config.rotation.secrets.map((s) => s.kind))];
    if (configured.length === 0)
      throw new ConfigError(
        'rotation.secrets is empty: say which secrets to rotate (kind and path template)',
      );
    const kinds = selection.kinds ?? configured;
    const notConfigured = kinds.filter((k) => !configured.includes(k));
    if (notConfigured.length > 0)
      throw new UsageError(
        `--kinds ${notConfigured.join(',')}: no rotation.secrets entry for ${notConfigured.length > 1 ? 'these kinds' : 'this kind'}`,
      );
    return kinds;
  };

  async function plan(selection: Selection): Promise<RotationPlan> {
    const kinds = kindsOf(selection);
    let tenants: string[];
    let unknown: string[] = [];
    let excluded: string[] = [];
    if (selection.tenants === 'all') {
      const listing = await listTenants(config, deps.vault);
      tenants = listing.counted;
      excluded = listing.excluded;
    } else {
      const requested = [...new Set(selection.tenants)];
      excluded = requested.filter((t) => config.tenancy.exclude.has(t));
      tenants = requested.filter((t) => !config.tenancy.exclude.has(t));
      if (config.tenancy.source) {
        const known = new Set((await listTenants(config, deps.vault)).all);
        unknown = tenants.filter((t) => !known.has(t));
        tenants = tenants.filter((t) => known.has(t));
      }
    }
    const templates = config.rotation.secrets
      .filter((s) => kinds.includes(s.kind))
      .map((s) => ({ kind: s.kind, template: mustParsePathTemplate(s.path) }));
    const located = await locateSecrets(deps.vault, tenants, templates);
    const rotation = config.rotation;
    return {
      kinds,
      tenants,
      secrets: located.found,
      unknown_tenants: unknown,
      unmatched: located.missing,
      excluded,
      limits: {
        concurrency: selection.concurrency ?? rotation.concurrency,
        per_target: rotation.per_target,
        rate: selection.rate ?? rotation.rate,
        attempts: rotation.attempts,
        grace_period: rotation.grace_period,
      },
    };
  }

  async function start(
    selection: Selection,
    thePlan: RotationPlan,
    hooks: RunHooks = {},
  ): Promise<RotationSummary> {
    const runId = `rot-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
    const planned: Omit<RotationItem, 'id' | 'run_id'>[] = [
      ...thePlan.secrets.map((s) => item(s.tenant, s.kind, s.path, 'pending')),
      ...thePlan.unmatched.map((m) =>
        item(
          m.tenant,
          m.kind,
          m.template.replace('{tenant}', m.tenant),
          'skipped',
          `no secret matches ${m.template}`,
        ),
      ),
      ...thePlan.unknown_tenants.flatMap((t) =>
        thePlan.kinds.map((k) =>
          item(
            t,
            k,
            `${UNKNOWN_TENANT_PREFIX}${t}/${k}`,
            'failed',
            `unknown tenant ${t}: not in the tenancy source`,
          ),
        ),
      ),
    ];
    await store.rotations.createRun(
      {
        run_id: runId,
        state: 'running',
        selection: { tenants: selection.tenants, kinds: thePlan.kinds },
        options: { ...thePlan.limits },
        incident_id: selection.incidentId ?? null,
      },
      planned,
    );
    hooks.onStart?.(runId, planned.length);
    return execute(runId, hooks);
  }

  async function resume(runId: string, hooks: RunHooks = {}): Promise<RotationSummary> {
    const run = await store.rotations.getRun(runId);
    if (!run) throw new RunNotFoundError(runId);
    await store.rotations.setRunState(runId, 'running');
    return execute(runId, hooks);
  }

  async function execute(runId: string, hooks: RunHooks): Promise<RotationSummary> {
    const run = (await store.rotations.getRun(runId))!;
    const limits = run.options as RotationPlan['limits'];
    const items = rotatableItems(runId, await store.rotations.items(runId));
    const now = Date.now();
    const open = items.filter(
      (i) =>
        i.state === 'pending' ||
        i.state === 'running' ||
        (i.state === 'done' &&
          i.phase === 'finalized' &&
          i.retire_after !== null &&
          Date.parse(i.retire_after) <= now),
    );
    const engine = new RotationEngine(
      {
        vault: deps.vault,
        journal: store.rotations,
        rotators: deps.rotators,
        logger: logger.child({ run_id: runId }),
      },
      {
        runId,
        concurrency: limits.concurrency,
        perTarget: limits.per_target,
        rate: limits.rate,
        attempts: limits.attempts,
        gracePeriodMs: parseDuration(limits.grace_period) ?? 0,
        destroyOld: config.rotation.destroy_old,
      },
    );
    hooks.onResume?.(open.length, items.length);
    const { unrecorded } = await engine.run(open, hooks.onProgress, hooks.signal);
    await recordRevocations(runId);
    const summary = await status(runId, unrecorded);
    const state: RunState =
      summary.pending > 0 ? 'interrupted' : summary.failed > 0 ? 'completed_with_failures' : 'completed';
    await store.rotations.setRunState(runId, state);
    return { ...summary, state };
  }

  /** One record per tenant whose API keys were revoked, as the emergency procedure keeps. */
  async function recordRevocations(runId: string): Promise<void> {
    const run = await store.rotations.getRun(runId);
    const revoked = new Map<string, number>();
    for (const i of await store.rotations.items(runId))
      if (i.kind === 'apikey' && i.state === 'done') revoked.set(i.tenant, (revoked.get(i.tenant) ?? 0) + 1);
    const event = config.rotation.targets.apikey.issue_replacements
      ? 'api_keys_replaced_emergency'
      : 'api_keys_revoked_emergency';
    for (const [tenant, count] of revoked)
      await store.rotations.record(runId, tenant, event, {
        keys: count,
        incident_id: run?.incident_id ?? null,
        severity: 'critical',
      });
  }

  /** The run as the store holds it, plus this pass's failures the store refused to record. */
  async function status(
    runId: string,
    unrecorded: readonly UnrecordedFailure[] = [],
  ): Promise<RotationSummary> {
    const run = await store.rotations.getRun(runId);
    if (!run) throw new RunNotFoundError(runId);
    const failed = new Map(unrecorded.map((u) => [u.itemId, u]));
    const items = rotatableItems(runId, await store.rotations.items(runId)).map((i): RotationItem => {
      const u = failed.get(i.id);
      return u
        ? {
            ...i,
            state: u.state,
            error_phase: u.phase,
            error: `${u.reason} (not recorded in the store: ${u.storeError}; rotate resume retries it)`,
          }
        : i;
    });
    return summarize(run, items, await store.rotations.records(runId));
  }

  async function latestRunId(options: { unfinished?: boolean } = {}): Promise<string> {
    const runs = await store.rotations.listRuns(200);
    const run = options.unfinished
      ? runs.find((r) => r.state === 'running' || r.state === 'interrupted')
      : runs[0];
    if (!run)
      throw new SealwatchError(
        'run_not_found',
        options.unfinished ? 'no unfinished rotation run in the store' : 'no rotation run in the store yet',
      );
    return run.run_id;
  }

  return { plan, start, resume, status, list: () => store.rotations.listRuns(), latestRunId };
}

export interface RunHooks {
  onStart?: (runId: string, total: number) => void;
  onResume?: (open: number, total: number) => void;
  onProgress?: (progress: EngineProgress) => void;
  signal?: AbortSignal;
}

function item(
  tenant: string,
  kind: RotatorKind,
  path: string,
  state: RotationItem['state'],
  error: string | null = null,
): Omit<RotationItem, 'id' | 'run_id'> {
  return {
    tenant,
    kind,
    path,
    target: null,
    phase: 'planned',
    in_phase: null,
    state,
    attempts: 0,
    previous_version: null,
    staged_version: null,
    error,
    error_phase: error ? 'plan' : null,
    retire_after: null,
  };
}

/**
 * The run's items, each of a kind this sealwatch has a rotator for. A run journalled by a sealwatch
 * with other kinds stops here, naming the item, instead of failing inside the engine.
 */
function rotatableItems(runId: string, items: readonly StoredRotationItem[]): RotationItem[] {
  return items.map((item) => {
    if (isRotatorKind(item.kind)) return { ...item, kind: item.kind };
    throw new SealwatchError(
      'rotation_kind_unknown',
      `rotation run ${runId}: secret ${item.path} of ${item.tenant} has kind ${item.kind}, which this sealwatch does not rotate (it knows ${ROTATOR_KINDS.join(', ')}): resume the run with the sealwatch version that started it`,
      { details: { run_id: runId, kind: item.kind } },
    );
  });
}

export function summarize(
  run: RotationRun,
  items: readonly RotationItem[],
  records: readonly { tenant: string; event: string; details: Record<string, unknown> }[],
): RotationSummary {
  const empty = (): KindCounts => ({ rotated: 0, failed: 0, skipped: 0, rolled_back: 0 });
  const total = empty();
  const byKind: Partial<Record<RotatorKind, KindCounts>> = {};
  let pending = 0;
  let retirePending = 0;
  const failures: RotationSummary['failures'] = [];
  for (const i of items) {
    const counts = (byKind[i.kind] ??= empty());
    const bump = (key: keyof KindCounts) => {
      counts[key]++;
      total[key]++;
    };
    if (i.state === 'done') {
      bump('rotated');
      if (i.phase === 'finalized') retirePending++;
    } else if (i.state === 'skipped') bump('skipped');
    else if (i.state === 'failed' || i.state === 'rolled_back') {
      bump('failed');
      if (i.state === 'rolled_back') bump('rolled_back');
      failures.push({
        tenant: i.tenant,
        kind: i.kind,
        phase: i.error_phase ?? i.phase,
        reason: i.error ?? 'unknown',
      });
    } else pending++;
  }
  // Kinds in a fixed order, so the JSON is stable.
  const orderedByKind = Object.fromEntries(
    ROTATOR_KINDS.filter((k) => byKind[k]).map((k) => [k, byKind[k]!]),
  );
  return {
    run_id: run.run_id,
    state: run.state,
    total: items.length,
    ...total,
    pending,
    retire_pending: retirePending,
    by_kind: orderedByKind,
    failures,
    records: records.map((r) => ({ tenant: r.tenant, event: r.event, details: r.details })),
    created_at: run.created_at,
    incident_id: run.incident_id,
  };
}
