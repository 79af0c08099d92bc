import { Counter, Gauge, Registry } from 'prom-client';
import type { AlertRecord } from '../store/repositories/alerts.repository.js';
import type { ClusterSample } from './sample.js';

/**
 * watch's Prometheus metrics. The names and labels are a contract shared with the exported
 * Prometheus rules and Grafana dashboard (docs/watch.md → Metrics): add, never rename.
 */
export class WatchMetrics {
  readonly registry = new Registry();
  private readonly nodeUp = this.gauge('sealwatch_node_up', 'node answered sys/health (1) or not (0)', [
    'node',
  ]);
  private readonly nodeSealed = this.gauge('sealwatch_node_sealed', 'node is sealed (1) or not (0)', [
    'node',
  ]);
  private readonly nodeActive = this.gauge('sealwatch_node_active', 'node is the active leader (1)', [
    'node',
  ]);
  private readonly pollDuration = this.gauge(
    'sealwatch_poll_duration_seconds',
    'how long the last poll of the node took',
    ['node'],
  );
  private readonly alerts = this.gauge('sealwatch_alerts', 'alerts per rule, severity and state', [
    'rule',
    'severity',
    'state',
  ]);
  readonly detections = new Counter({
    name: 'sealwatch_detections_total',
    help: 'conditions that started an alert, by rule',
    labelNames: ['rule'],
    registers: [this.registry],
  });
  readonly auditEventsIngested = new Counter({
    name: 'sealwatch_audit_events_ingested_total',
    help: 'audit events newly stored from the live stream',
    registers: [this.registry],
  });
  readonly auditIngestLag = new Gauge({
    name: 'sealwatch_audit_ingest_lag_seconds',
    help: 'time from the newest stored audit event being logged to it being stored',
    registers: [this.registry],
  });
  readonly notifierFailures = new Counter({
    name: 'sealwatch_notifier_failures_total',
    help: 'failed notice deliveries, by channel',
    labelNames: ['channel'],
    registers: [this.registry],
  });

  /** Registered at the first cycle that checks snapshots: absent while snapshot_max_age is not set. */
  private snapshotGauges: { age: Gauge; maxAge: Gauge } | undefined;
  private readonly failedLogins = this.gauge(
    'sealwatch_failed_logins',
    'failed logins in the audit store: window="recent" (in auth_failures_within), "expected" (the baseline window\'s rate, per auth_failures_within)',
    ['window'],
  );
  readonly leader = new Gauge({
    name: 'sealwatch_watch_leader',
    help: 'this watch holds the lease and notifies (1) or stands by (0)',
    registers: [this.registry],
  });

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  observeSample(sample: ClusterSample): void {
    for (const n of sample.nodes) {
      this.nodeUp.set({ node: n.address }, n.up ? 1 : 0);
      // Unknown seal state (node down) is not "unsealed": the series is removed instead.
      if (n.sealed === undefined) this.nodeSealed.remove({ node: n.address });
      else this.nodeSealed.set({ node: n.address }, n.sealed ? 1 : 0);
      this.nodeActive.set({ node: n.address }, n.active ? 1 : 0);
      this.pollDuration.set({ node: n.address }, n.pollSeconds);
    }
    this.observeStoreSample(sample);
  }

  /** The snapshot and failed-login readings; a reading that could not be taken removes its series. */
  private observeStoreSample(sample: ClusterSample): void {
    if (sample.snapshot?.ok) {
      const { newest, maxAgeMs } = sample.snapshot.value;
      this.snapshotGauges ??= {
        age: this.gauge(
          'sealwatch_snapshot_age_seconds',
          'age of the newest verified snapshot; +Inf when no snapshot was ever verified',
          [],
        ),
        maxAge: this.gauge(
          'sealwatch_snapshot_max_age_seconds',
          'the backup schedule the newest verified snapshot is held to (watch.rules.snapshot_max_age)',
          [],
        ),
      };
      this.snapshotGauges.maxAge.set(maxAgeMs / 1000);
      this.snapshotGauges.age.set(
        newest ? Math.max(0, (sample.at.getTime() - Date.parse(newest.takenAt)) / 1000) : Infinity,
      );
    }
    if (sample.authFailures?.ok) {
      this.failedLogins.set({ window: 'recent' }, sample.authFailures.value.recent);
      const { baseline, withinMs, baselineMs } = sample.authFailures.value;
      this.failedLogins.set({ window: 'expected' }, (baseline * withinMs) / baselineMs);
    } else this.failedLogins.reset();
  }

  observeAlerts(active: readonly AlertRecord[], rules: readonly { id: string; severity: string }[]): void {
    this.alerts.reset();
    for (const rule of rules)
      for (const state of ['pending', 'firing'] as const)
        this.alerts.set(
          { rule: rule.id, severity: rule.severity, state },
          active.filter((a) => a.rule === rule.id && a.state === state).length,
        );
  }
}
