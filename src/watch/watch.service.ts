import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditPipelineDeps } from '../audit/audit-sink.js';
import { followAuditFile } from '../audit/follow.js';
import { listenForAuditEvents } from '../audit/listen.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { AlertRecord, NewOutboxEntry, Silence } from '../store/repositories/alerts.repository.js';
import type { LeaseFence } from '../store/repositories/watch-lease.repository.js';
import type { Store } from '../store/store.js';
import { listenerOfAddress, parseListener, type ListenerAddress } from '../runbooks/cert-expiry/tls-probe.js';
import type { VaultClient } from '../vault/client.js';
import type { AlertCondition, AlertRule, RuleContext } from './alert-rule.js';
import { ALERT_RULE_LIST } from './alerts/registry.js';
import type { AlertChannel } from './channels/channel.js';
import { alertJsonSchema } from './alert-json.js';
import { advanceAlerts } from './lifecycle.js';
import type { WatchMetrics } from './metrics.js';
import type { AutoResponder } from './auto-response.js';
import type { WatchLease } from './lease.js';
import { deliverDue } from './outbox.js';
import { pollCluster } from './poll.js';
import { DEFAULT_RULE_SETTINGS, type WatchRuleSettings } from './rule-settings.js';
import { sampleStore } from './store-sample.js';
import { createDetection, type DetectionDeps } from './detect/detection.js';
import type { AuditFailureCounters, ClusterSample, WatchFaults } from './sample.js';

export interface WatchSettings {
  intervalMs: number;
  nodeTimeoutMs: number;
  repeatMs: number;
  leaderChangesMax: number;
  leaderChangesWithinMs: number;
  /** Per-rule for-durations overriding the rules' own. */
  forMs: Readonly<Record<string, number>>;
  retries: ReadonlyMap<string, { attempts: number; backoffMs: number }>;
  auditSockets: readonly string[];
  auditFiles: readonly string[];
  /** TLS listeners (host:port) whose certificates are read, beside every https:// node address. */
  tlsListeners: readonly string[];
  /** How often listener certificates are read (a handshake per listener). */
  tlsProbeEveryMs: number;
  /** Thresholds of the telemetry, lease, login and snapshot rules (defaults: DEFAULT_RULE_SETTINGS). */
  rules?: WatchRuleSettings;
  /** Notice groups (docs/watch.md → Grouping); without it every notice is a message of its own. */
  grouping?: { groupBy: readonly string[]; waitMs: number; intervalMs: number };
  /** Messages per minute, per channel name. */
  rateLimits?: ReadonlyMap<string, number>;
}

export interface WatchDeps {
  /** A client limited to the node timeout without retries (VaultClient.withLimits). */
  vault: Pick<VaultClient, 'health' | 'sealStatus' | 'autopilotState' | 'metricsPrometheus'>;
  nodes: readonly string[];
  store: Pick<Store, 'alerts' | 'backups' | 'auditLogins'>;
  /** Where live audit events go: the same pipeline as `audit listen` and `audit follow`. */
  audit: AuditPipelineDeps;
  channels: readonly AlertChannel[];
  metrics: WatchMetrics;
  logger: Logger;
  settings: WatchSettings;
  /** Live detection over the audit stream (src/watch/detect); off when absent. */
  detect?: Pick<DetectionDeps, 'store' | 'thresholds' | 'tenancy' | 'quietMs'>;
  /** High availability (src/watch/lease.ts): without it this process is the only one and always acts. */
  lease?: Pick<WatchLease, 'isLeader' | 'fenced' | 'lost' | 'checkBeforeSending' | 'keep' | 'status'>;
  /**
   * Automatic response (src/watch/auto-response.ts): call `onDetection(alert)` when a detection
   * alert first fires. Absent when `watch.auto_response` names no rule; it acts only for the rules
   * named there, only on the lease holder, once per alert episode, and never throws.
   */
  autoResponse?: Pick<AutoResponder, 'onDetection'>;
}

export interface CycleResult {
  sample: ClusterSample;
  /** Pending and firing alerts after the cycle (kept in memory while the store does not answer). */
  active: AlertRecord[];
  /** Why the store could not be used this cycle. */
  storeError: string | undefined;
  /** Another watch holds the lease: this cycle only polled and read (nothing committed or sent). */
  standby?: boolean;
}

const HISTORY_MS = 60 * 60_000;

/** Waits, or less when watch is told to stop. */
const pause = (ms: number, signal: AbortSignal) =>
  // The abort's rejection is the stop itself, not a failure: every loop checks the signal next.
  sleep(ms, undefined, { signal }).catch(() => undefined);

/** The composition root of `watch`: poll, evaluate, keep state, notify, ingest the audit stream. */
export function createWatch(deps: WatchDeps) {
  const { settings, logger } = deps;
  const rules: AlertRule[] = ALERT_RULE_LIST.map((r) => ({ ...r, forMs: settings.forMs[r.id] ?? r.forMs }));
  const faults: WatchFaults = { auditSockets: [], store: undefined, notifiers: [] };
  const leaderChanges: number[] = [];
  const auditCounters: { at: number; counters: AuditFailureCounters }[] = [];
  const leaseCounts: { at: number; leases: number }[] = [];
  const ruleSettings = settings.rules ?? DEFAULT_RULE_SETTINGS;
  let lastLeader: string | undefined;
  let lastCycleAt: Date | undefined;
  let lastTlsProbe = -Infinity;
  const tlsListeners: ListenerAddress[] = [
    ...deps.nodes.flatMap((address) => listenerOfAddress(address) ?? []),
    ...settings.tlsListeners.flatMap((l) => parseListener(l) ?? []),
  ];

  /** Ends the delivery loop's pause early: a detection's notices leave at once. */
  let wakeRequested = false;
  let pausing: AbortController | undefined;
  const wakeDelivery = () => {
    wakeRequested = true;
    pausing?.abort();
  };
  const detection = deps.detect
    ? createDetection({
        ...deps.detect,
        channels: deps.channels.map((c) => c.name),
        metrics: deps.metrics,
        logger: logger.child({ component: 'detect' }),
        wake: () => wakeDelivery(),
        onDetection: deps.autoResponse ? (alert) => deps.autoResponse!.onDetection(alert) : undefined,
        ...(deps.lease
          ? {
              isLeader: () => deps.lease!.isLeader(),
              commit: async (rows: AlertRecord[], notices: NewOutboxEntry[]) => {
                await deps.lease!.fenced((fence) => deps.store.alerts.commitCycle(rows, notices, fence));
              },
            }
          : {}),
      })
    : undefined;

  const context: RuleContext = {
    thresholds: {
      leaderChangesMax: settings.leaderChangesMax,
      leaderChangesWithinMs: settings.leaderChangesWithinMs,
    },
    settings: ruleSettings,
    leaseGrowth: (withinMs) => {
      const inWindow = leaseCounts.filter((s) => s.at >= Date.now() - withinMs);
      if (inWindow.length < 2) return undefined;
      return { lowest: Math.min(...inWindow.map((s) => s.leases)), latest: inWindow.at(-1)!.leases };
    },
    leaderChanges: (withinMs) => leaderChanges.filter((t) => t >= Date.now() - withinMs).length,
    auditFailureIncrease: (withinMs) => {
      const latest = auditCounters[auditCounters.length - 1];
      const base = auditCounters.find((s) => s.at >= Date.now() - withinMs);
      if (!latest || !base || base === latest) return undefined;
      return {
        request: latest.counters.requestFailures - base.counters.requestFailures,
        response: latest.counters.responseFailures - base.counters.responseFailures,
      };
    },
  };

  const remember = (sample: ClusterSample) => {
    const now = sample.at.getTime();
    if (sample.leader && lastLeader && sample.leader !== lastLeader) leaderChanges.push(now);
    if (sample.leader) lastLeader = sample.leader;
    if (sample.auditFailures?.ok) auditCounters.push({ at: now, counters: sample.auditFailures.value });
    const leases = sample.telemetry?.ok ? sample.telemetry.value.leases : undefined;
    if (leases !== undefined) leaseCounts.push({ at: now, leases });
    while (leaseCounts.length > 1 && leaseCounts[0]!.at < now - HISTORY_MS) leaseCounts.shift();
    while (leaderChanges.length > 0 && leaderChanges[0]! < now - HISTORY_MS) leaderChanges.shift();
    while (auditCounters.length > 1 && auditCounters[0]!.at < now - HISTORY_MS) auditCounters.shift();
  };

  const notifierFailed = (channel: string, error: string) => {
    deps.metrics.notifierFailures.inc({ channel });
    faults.notifiers = [...faults.notifiers.filter((n) => n.channel !== channel), { channel, error }];
  };
  const notifierOk = (channel: string) => {
    faults.notifiers = faults.notifiers.filter((n) => n.channel !== channel);
  };

  /**
   * What watch knows of its alerts when the store does not answer: the last active list, the
   * silences, and changes not yet written. Written (without queuing their notices again, which
   * were sent directly) as soon as the store answers.
   */
  let memory: { active: AlertRecord[]; silences: Silence[]; unsaved: Map<string, AlertRecord> } = {
    active: [],
    silences: [],
    unsaved: new Map(),
  };

  /** Reads the store's alert state; a failure is the store fault of this cycle, never an empty state. */
  async function readState(at: Date): Promise<{ active: AlertRecord[]; silences: Silence[] } | undefined> {
    try {
      const [active, silences] = await Promise.all([
        deps.store.alerts.active(),
        deps.store.alerts.activeSilences(at.toISOString()),
      ]);
      faults.store = undefined;
      return { active, silences };
    } catch (error) {
      faults.store = errorMessage(error);
      logger.error({ err: error }, 'the store cannot be used: keeping alert state in memory');
      return undefined;
    }
  }

  async function cycle(options: { once?: boolean } = {}): Promise<CycleResult> {
    const stored = await readState(new Date());
    const probeTls = tlsListeners.length > 0 && Date.now() - lastTlsProbe >= settings.tlsProbeEveryMs;
    if (probeTls) lastTlsProbe = Date.now();
    const [polled, fromStore] = await Promise.all([
      pollCluster(
        {
          vault: deps.vault,
          nodes: deps.nodes,
          timeoutMs: settings.nodeTimeoutMs,
          tlsListeners: probeTls ? tlsListeners : undefined,
        },
        { auditSockets: [...faults.auditSockets], store: faults.store, notifiers: [...faults.notifiers] },
      ),
      sampleStore(
        { store: deps.store, settings: ruleSettings, timeoutMs: settings.nodeTimeoutMs },
        new Date(),
      ),
    ]);
    const sample: ClusterSample = { ...polled, ...fromStore };
    remember(sample);
    deps.metrics.observeSample(sample);
    if (deps.lease && !deps.lease.isLeader()) {
      // A standby polls (its metrics and leader history stay current) but only the holder decides.
      const active = stored?.active ?? [];
      deps.metrics.observeAlerts(active, rules);
      memory = { active, silences: stored?.silences ?? [], unsaved: new Map() };
      lastCycleAt = sample.at;
      return { sample, active, storeError: faults.store, standby: true };
    }
    const results = new Map<string, readonly AlertCondition[] | undefined>(
      rules.map((rule) => [rule.id, rule.evaluate(sample, context)]),
    );
    // After an outage the store is behind what was notified meanwhile: memory is the truth until written.
    const previous = stored && memory.unsaved.size === 0 ? stored.active : memory.active;
    const silences = stored?.silences ?? memory.silences;
    const { changed, notices } = advanceAlerts({
      rules,
      results,
      active: previous,
      silences,
      now: sample.at,
      repeatMs: settings.repeatMs,
      channels: deps.channels.map((c) => c.name),
      ignoreFor: options.once ?? false,
      groupBy: settings.grouping?.groupBy,
    });
    const known = new Set(previous.map((a) => a.fingerprint));
    for (const a of changed) if (!known.has(a.fingerprint)) deps.metrics.detections.inc({ rule: a.rule });
    const byFingerprint = new Map(previous.map((a) => [a.fingerprint, a]));
    for (const a of changed) byFingerprint.set(a.fingerprint, a);
    const active = [...byFingerprint.values()].filter((a) => a.state !== 'resolved');
    deps.metrics.observeAlerts(active, [...rules, ...(detection?.rules ?? [])]);

    let written = false;
    if (stored) {
      try {
        const unsaved = new Map(memory.unsaved);
        for (const a of changed) unsaved.set(a.fingerprint, a);
        const write = (fence?: LeaseFence) =>
          deps.store.alerts.commitCycle([...unsaved.values()], notices, fence);
        await (deps.lease ? deps.lease.fenced(write) : write());
        written = true;
        for (const n of notices)
          logger.info({ fingerprint: n.fingerprint, channel: n.channel, kind: n.kind }, 'notice queued');
      } catch (error) {
        if (deps.lease?.lost(error)) {
          // Another watch took over: it evaluates from the store; nothing of this cycle is kept or sent.
          memory = { active: [], silences, unsaved: new Map() };
          lastCycleAt = sample.at;
          return { sample, active: stored.active, storeError: faults.store, standby: true };
        }
        faults.store = errorMessage(error);
        logger.error({ err: error }, 'the store cannot be written: keeping alert state in memory');
      }
    }
    if (written) memory = { active, silences, unsaved: new Map() };
    else {
      for (const a of changed) memory.unsaved.set(a.fingerprint, a);
      memory = { active, silences, unsaved: memory.unsaved };
      await sendDirectly(notices);
    }
    lastCycleAt = sample.at;
    return { sample, active, storeError: faults.store };
  }

  /** Without a store there is no outbox: one attempt per notice, straight to the channel. */
  async function sendDirectly(notices: readonly NewOutboxEntry[]): Promise<void> {
    await Promise.all(
      notices.map(async (n) => {
        const channel = deps.channels.find((c) => c.name === n.channel);
        const alert = alertJsonSchema.safeParse(n.payload);
        // Both come from this process (its channels, toAlertJson): nothing to send otherwise.
        if (!channel || !alert.success) return;
        const result = await channel.send({
          kind: n.kind,
          alert: alert.data,
          id: `sealwatch-${n.fingerprint}-${n.kind}-${Date.parse(alert.data.last_notified_at ?? '') || 0}`,
        });
        if (result.ok) notifierOk(n.channel);
        else notifierFailed(n.channel, result.error);
      }),
    );
  }

  const deliver = async () => {
    if (deps.lease && !deps.lease.isLeader()) return { sent: 0, failed: 0, waiting: 0 };
    return deliverDue({
      store: deps.store,
      channels: deps.channels,
      logger,
      retries: settings.retries,
      onFailure: notifierFailed,
      onSuccess: notifierOk,
      beforeSend: deps.lease?.checkBeforeSending,
      grouping: settings.grouping,
      rateLimits: settings.rateLimits,
    });
  };

  /** Keeps one audit socket listening; a listener that fails or stops is a fault until it listens again. */
  async function keepListening(bind: string, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await listenForAuditEvents(
          {
            bind,
            signal,
            onStored: storedAuditEvents,
            onStoredRows: detection?.observe,
            // Detections wait for their events to be stored: a short flush keeps that wait short.
            flushMs: detection ? 100 : undefined,
            onListening: () => {
              faults.auditSockets = faults.auditSockets.filter((s) => s.bind !== bind);
              logger.info({ bind }, 'receiving the audit socket');
            },
            onNotice: (message) => logger.warn({ bind }, message),
          },
          deps.audit,
        );
        if (signal.aborted) return;
        faults.auditSockets = [
          ...faults.auditSockets.filter((s) => s.bind !== bind),
          { bind, error: 'stopped' },
        ];
      } catch (error) {
        faults.auditSockets = [
          ...faults.auditSockets.filter((s) => s.bind !== bind),
          { bind, error: errorMessage(error) },
        ];
        logger.error({ bind, err: error }, 'audit socket listener failed; retrying');
      }
      // Retried each interval, until the address is free again.
      await pause(settings.intervalMs, signal);
    }
  }

  /**
   * Follows one audit file. Under HA only the lease holder follows: live detection runs on the
   * events this process stores, so the holder must store them all, and the follow checkpoint in
   * the shared store lets the next holder resume where the last one stopped.
   */
  async function keepFollowing(file: string, signal: AbortSignal): Promise<void> {
    const lease = deps.lease;
    while (!signal.aborted) {
      if (lease && !lease.isLeader()) {
        await pause(Math.min(1_000, settings.intervalMs), signal);
        continue;
      }
      const following = new AbortController();
      const stop = () => following.abort();
      signal.addEventListener('abort', stop, { once: true });
      const standingBy = lease
        ? setInterval(() => {
            if (!lease.isLeader()) following.abort();
          }, 500)
        : undefined;
      try {
        await followAuditFile(
          {
            file,
            signal: following.signal,
            onStored: storedAuditEvents,
            onStoredRows: detection?.observe,
            onNotice: (m) => logger.warn({ file }, m),
          },
          deps.audit,
        );
      } catch (error) {
        logger.error({ file, err: error }, 'following the audit file failed; retrying');
      } finally {
        clearInterval(standingBy);
        signal.removeEventListener('abort', stop);
      }
      // Stopped because another watch took the lease: stand by at once.
      if (following.signal.aborted && !signal.aborted) continue;
      await pause(settings.intervalMs, signal);
    }
  }

  function storedAuditEvents(stored: { inserted: number; newestTime: string | undefined }): void {
    deps.metrics.auditEventsIngested.inc(stored.inserted);
    if (stored.newestTime)
      deps.metrics.auditIngestLag.set(Math.max(0, (Date.now() - Date.parse(stored.newestTime)) / 1000));
  }

  /** Runs until the signal: audit streams, a cycle every interval, deliveries as they fall due. */
  async function run(signal: AbortSignal): Promise<void> {
    await detection?.start();
    const streams = [
      ...(detection ? [detection.run(signal)] : []),
      ...(deps.lease ? [deps.lease.keep(signal)] : []),
      ...settings.auditSockets.map((bind) => keepListening(bind, signal)),
      ...settings.auditFiles.map((file) => keepFollowing(file, signal)),
    ];
    // Deliveries run beside the cycles: a slow receiver never delays a poll.
    const delivering = (async () => {
      while (!signal.aborted) {
        await deliver().catch((error: unknown) => logger.error({ err: error }, 'delivering notices failed'));
        if (wakeRequested) {
          wakeRequested = false;
          continue;
        }
        const woken = new AbortController();
        pausing = woken;
        await pause(250, AbortSignal.any([signal, woken.signal]));
        pausing = undefined;
        wakeRequested = false;
      }
    })();
    while (!signal.aborted) {
      const started = Date.now();
      await cycle().catch((error: unknown) => logger.error({ err: error }, 'watch cycle failed'));
      await pause(Math.max(0, settings.intervalMs - (Date.now() - started)), signal);
    }
    await Promise.allSettled([delivering, ...streams]);
  }

  return {
    cycle,
    deliver,
    run,
    rules,
    /** Healthy while cycles run and the store answers. */
    health: () => ({
      ok: faults.store === undefined && lastCycleAt !== undefined,
      last_cycle_at: lastCycleAt?.toISOString() ?? null,
      faults: { ...faults },
      ha: deps.lease?.status() ?? null,
    }),
  };
}

export type Watch = ReturnType<typeof createWatch>;
