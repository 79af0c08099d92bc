import type { AssessThresholds } from '../../config/load.js';
import type { PathTemplate } from '../../config/path-template.js';
import { RevokedTokenIndex } from '../../assess/revoked-tokens.js';
import type { LiveContext, LiveEvent, LiveRule, RuleFinding, SuspicionRule } from '../../assess/rule.js';
import { RULE_LIST, type RuleId } from '../../assess/rules/index.js';
import { SecretPathClassifier } from '../../assess/secret-paths.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { AuditRowValues } from '../../store/audit-row.js';
import type { AlertRecord, NewOutboxEntry, Silence } from '../../store/repositories/alerts.repository.js';
import type { Store } from '../../store/store.js';
import { fingerprint, openAlert, queueNotices } from '../lifecycle.js';
import type { WatchMetrics } from '../metrics.js';
import { liveEventOf } from './live-event.js';

/** A detection rule watch runs on the live stream. */
export type LiveSuspicionRule = SuspicionRule<RuleId> & { readonly live: LiveRule };

/** The rules with a live evaluator, in registry order. */
export const LIVE_RULES: readonly LiveSuspicionRule[] = RULE_LIST.filter(
  (rule): rule is LiveSuspicionRule => rule.live !== undefined,
);

/** A detection alert resolves after this long without a new finding, unless configured otherwise. */
export const DEFAULT_DETECTION_QUIET_MS = 5 * 60_000;

/** How often detection re-reads silences and the tripwire list, and resolves quiet alerts. */
const TICK_MS = 1_000;

export interface DetectionSettings {
  thresholds: AssessThresholds;
  tenancy: { paths: readonly PathTemplate[]; exclude: ReadonlySet<string> };
  /** A detection alert with no new finding for this long resolves (and a resolve notice follows). */
  quietMs: number;
}

export interface DetectionDeps extends DetectionSettings {
  store: Pick<Store, 'alerts' | 'revokedAccessors' | 'auditAnalysis'>;
  /** Channel names: every notice is queued once per channel. */
  channels: readonly string[];
  metrics: Pick<WatchMetrics, 'detections'>;
  logger: Logger;
  /** Wakes the delivery loop: a detection's notices leave now, not at the next poll. */
  wake: () => void;
  /** Told when a detection alert first fires (automatic response); its errors are logged, never thrown. */
  onDetection?: ((alert: AlertRecord) => Promise<void> | void) | undefined;
  /**
   * Whether this watch holds the HA lease (docs/watch.md → High availability); always when absent.
   * A standby evaluates what it stores (its rule state stays current) but writes and notifies
   * nothing: the holder does, and a standby that takes over reads the firing alerts back first.
   */
  isLeader?: () => boolean;
  /** Writes alert rows with their notices in one transaction (fenced by the HA lease); the store's commitCycle when absent. */
  commit?: (rows: AlertRecord[], notices: NewOutboxEntry[]) => Promise<void>;
  now?: () => Date;
}

export interface LiveHit {
  rule: LiveSuspicionRule;
  finding: RuleFinding;
}

/**
 * Every live rule's evaluator, started over one context: events in, findings out, in storage
 * order. What watch runs on the stream, and what the replay test compares with `assess`.
 */
export function startLiveRules(context: LiveContext): (event: LiveEvent) => LiveHit[] {
  const evaluators = LIVE_RULES.map((rule) => ({ rule, evaluator: rule.live.start(context) }));
  return (event) => {
    const hits: LiveHit[] = [];
    for (const { rule, evaluator } of evaluators)
      for (const finding of evaluator.observe(event)) hits.push({ rule, finding });
    return hits;
  };
}

/**
 * Live detection: every newly stored audit event goes through each live rule's evaluator; a
 * finding fires its alert at once (no pending: the event already happened), de-duplicated by
 * fingerprint (rule and labels), written with its notices in one transaction and the delivery loop
 * woken. An alert with no new finding for `quietMs` resolves. Evaluation is synchronous and cheap
 * per event; writes run one after another, off the path that stores the events.
 */
export function createDetection(deps: DetectionDeps) {
  const { logger } = deps;
  const now = deps.now ?? (() => new Date());
  const secrets = new SecretPathClassifier(deps.tenancy.paths, deps.tenancy.exclude);
  const revoked = new RevokedTokenIndex();
  let revokedVersion: string | undefined;
  let evaluate: (event: LiveEvent) => LiveHit[] = () => [];
  /** Firing detection alerts and when each last had a finding (ms). */
  const firing = new Map<string, { alert: AlertRecord; lastFindingAt: number }>();
  /** Alerts whose write failed: written again on the next tick. */
  const unsaved = new Map<string, AlertRecord>();
  const leading = () => deps.isLeader?.() ?? true;
  let wasLeading = leading();
  let silences: Silence[] = [];
  let writing: Promise<void> = Promise.resolve();
  const ruleIds = new Set<string>(LIVE_RULES.map((r) => r.id));

  /** Reads what the evaluators need from the store once, before the audit streams start. */
  async function start(): Promise<void> {
    let knownAddresses: Set<string> | undefined;
    try {
      const addresses = await deps.store.auditAnalysis.storedAddresses();
      knownAddresses = addresses.length > 0 ? new Set(addresses) : undefined;
      if (!knownAddresses)
        logger.warn(
          'new-address: no audit event stored before watch started, so no address can be called new until watch restarts with history',
        );
    } catch (error) {
      logger.error(
        { err: error },
        'new-address: could not read the stored addresses; the rule does not run until watch restarts',
      );
    }
    await readFiring();
    await refresh();
    evaluate = startLiveRules({ thresholds: deps.thresholds, secrets, knownAddresses, revoked });
  }

  /** The detection alerts firing in the store: at start, and when this watch takes the HA lease over. */
  async function readFiring(): Promise<void> {
    firing.clear();
    try {
      for (const alert of await deps.store.alerts.active())
        if (ruleIds.has(alert.rule) && alert.state === 'firing')
          firing.set(alert.fingerprint, { alert, lastFindingAt: now().getTime() });
    } catch (error) {
      logger.error({ err: error }, 'could not read firing detection alerts; they may be notified again');
    }
  }

  /** Silences and the tripwire list (re-read only when containment recorded more). */
  async function refresh(): Promise<void> {
    try {
      silences = await deps.store.alerts.activeSilences(now().toISOString());
      const version = await deps.store.revokedAccessors.version();
      if (version !== revokedVersion) {
        const list = await deps.store.revokedAccessors.list();
        const tokens = await deps.store.revokedAccessors.tokensOf(list.map((r) => r.accessor));
        revoked.replace(list, new Map(tokens.map((t) => [t.client_token, t.accessor])));
        revokedVersion = version;
        if (list.length > 0)
          logger.info({ accessors: list.length, tokens: tokens.length }, 'tripwire armed: revoked accessors');
      }
    } catch (error) {
      // Kept as they were: the next tick reads them again.
      logger.error({ err: error }, 'could not read silences or revoked accessors; keeping the previous ones');
    }
  }

  /** Evaluates newly stored rows (in storage order); alerts are written in the background. */
  function observe(rows: readonly AuditRowValues[]): void {
    const hits: LiveHit[] = [];
    try {
      for (const row of rows) {
        const event = liveEventOf(row);
        revoked.learn(event);
        for (const hit of evaluate(event)) hits.push(hit);
      }
    } catch (error) {
      // The events are stored whatever happens here: a rule's failure must not read as a storing
      // failure. The findings made before it are still alerted.
      logger.error({ err: error }, 'a live detection rule failed on a stored event');
    }
    if (hits.length === 0) return;
    // A standby's findings are not written: the lease holder notifies (its own stored events).
    if (!leading()) return;
    const at = now();
    const fresh: AlertRecord[] = [];
    for (const { rule, finding } of hits) {
      const labels = labelsOf(rule, finding);
      const fp = fingerprint(rule.id, labels);
      const known = firing.get(fp);
      if (known) {
        known.lastFindingAt = at.getTime();
        continue;
      }
      const alert = newAlert(rule, finding, labels, fp, at);
      firing.set(fp, { alert, lastFindingAt: at.getTime() });
      fresh.push(alert);
    }
    if (fresh.length > 0) enqueue(fresh, at, true);
  }

  function enqueue(alerts: readonly AlertRecord[], at: Date, fired: boolean): void {
    writing = writing.then(() => write(alerts, at, fired));
  }

  async function write(alerts: readonly AlertRecord[], at: Date, fired: boolean): Promise<void> {
    // Detections are told once per episode: no repeat interval.
    const notices = queueNotices(alerts, {
      silences,
      now: at,
      repeatMs: Number.POSITIVE_INFINITY,
      channels: deps.channels,
    });
    const rows = [...unsaved.values(), ...alerts];
    try {
      await (deps.commit ? deps.commit(rows, notices) : deps.store.alerts.commitCycle(rows, notices));
      unsaved.clear();
    } catch (error) {
      // Kept to be written on the next tick; its notices are queued then (notified_state is reset).
      for (const alert of alerts) {
        if (notices.some((n) => n.fingerprint === alert.fingerprint))
          alert.notified_state = alert.state === 'firing' ? null : 'firing';
        unsaved.set(alert.fingerprint, alert);
      }
      logger.error({ err: error }, 'could not write detection alerts; retrying');
      return;
    }
    if (notices.length > 0) deps.wake();
    if (!fired) return;
    for (const alert of alerts) {
      deps.metrics.detections.inc({ rule: alert.rule });
      logger.warn({ rule: alert.rule, fingerprint: alert.fingerprint, labels: alert.labels }, alert.summary);
      // Not awaited: a slow automatic response must not hold back the next detection's notices.
      if (deps.onDetection)
        void Promise.resolve()
          .then(() => deps.onDetection!(alert))
          .catch((error: unknown) =>
            logger.error(
              { err: error, fingerprint: alert.fingerprint, rule: alert.rule },
              `onDetection failed: ${errorMessage(error)}`,
            ),
          );
    }
  }

  /** Resolves quiet alerts and re-reads silences and the tripwire list. */
  async function tick(): Promise<void> {
    const lead = leading();
    if (lead && !wasLeading) await readFiring();
    wasLeading = lead;
    if (!lead) {
      // The holder resolves quiet alerts; this standby forgets what it knew until it takes over.
      firing.clear();
      unsaved.clear();
      return;
    }
    await refresh();
    const at = now();
    const quiet: AlertRecord[] = [];
    for (const [fp, { alert, lastFindingAt }] of firing)
      if (at.getTime() - lastFindingAt >= deps.quietMs) {
        firing.delete(fp);
        quiet.push({ ...alert, state: 'resolved', resolved_at: at.toISOString() });
      }
    const retry = [...unsaved.values()];
    unsaved.clear();
    if (quiet.length > 0 || retry.length > 0) enqueue([...retry, ...quiet], at, false);
    await writing;
  }

  /** Ticks until the signal; then waits for the writes under way. */
  async function run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, TICK_MS).unref());
      await tick().catch((error: unknown) => logger.error({ err: error }, 'detection tick failed'));
    }
    await writing;
  }

  return {
    rules: LIVE_RULES,
    start,
    observe,
    tick,
    run,
    /** Resolves when every alert observed so far is written (tests, shutdown). */
    settled: () => writing,
  };
}

export type Detection = ReturnType<typeof createDetection>;

function labelsOf(rule: LiveSuspicionRule, finding: RuleFinding): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const label of rule.live.labels) {
    const value = finding[label];
    if (value !== null && value !== undefined && value !== '') labels[label] = value;
  }
  return labels;
}

function newAlert(
  rule: LiveSuspicionRule,
  finding: RuleFinding,
  labels: Record<string, string>,
  fp: string,
  at: Date,
): AlertRecord {
  const stamp = at.toISOString();
  const who = finding.display_name ?? finding.accessor ?? 'no token';
  const summary =
    `${rule.explanation}: ${finding.detail ? `${finding.detail}; ` : ''}${who}` +
    `${finding.remote_address ? ` from ${finding.remote_address}` : ''}` +
    `${finding.path ? ` on ${finding.path}` : ''} at ${finding.time}`;
  return openAlert(
    { fingerprint: fp, rule: rule.id, severity: rule.severity, labels, summary, runbook: rule.live.runbook },
    'firing',
    stamp,
  );
}
