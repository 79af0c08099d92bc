import { z } from 'zod';
import { AUTO_RESPONSE_ACTIONS } from '../config/watch.schema.js';
import { SealwatchError, errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { createIncidents, type Incidents } from '../playbook/incident.service.js';
import type { PlaybookDeps, PlaybookFactory } from '../playbook/registry.js';
import { breachOptionsSchema, breachPlaybook } from '../respond/breach.playbook.js';
import { approveAll, type PlaybookPlan } from '../playbook/playbook.engine.js';
import type { Step } from '../playbook/step.js';
import type { AlertRecord } from '../store/repositories/alerts.repository.js';
import type { Store } from '../store/store.js';
import { HASHED_ACCESSOR_NOT_LIVE, resolveHashedAccessor } from './hashed-accessor.js';
import type { VaultClient } from '../vault/client.js';
import type { WatchLease } from './lease.js';

/** What a detection rule may do by itself, when the configuration says so for that rule. */
export type AutoResponseAction = (typeof AUTO_RESPONSE_ACTIONS)[number];

/** The incident type every automatic response is journalled under. */
export const AUTO_RESPONSE_INCIDENT = 'watch-auto-response';

export interface AutoResponseDeps {
  /** Detection rule id → action. A rule not named here triggers nothing: off by default. */
  actions: Readonly<Record<string, AutoResponseAction>>;
  /** The responder's client: its token revokes, and is never revoked. */
  vault: Pick<
    VaultClient,
    | 'tokenLookupSelf'
    | 'tokenLookupAccessor'
    | 'tokenRevokeAccessor'
    | 'listAuditDevices'
    | 'auditHash'
    | 'tokenListAccessors'
  >;
  /** Accessors never revoked beside the responder's own (the watch's token when it is another). */
  protectedAccessors?: readonly string[];
  store: Pick<Store, 'incidents'>;
  incidents: Pick<Incidents, 'declare' | 'run' | 'plan'>;
  /**
   * `open-incident`: the breach playbook (`respond breach`) for these options, with the options as
   * the playbook parsed them (defaults filled in); declared and planned (the dry-run plan is
   * journalled with the response), never run by watch.
   */
  breach?: (
    options: Record<string, unknown>,
  ) => Promise<{ steps: readonly Step[]; options: Record<string, unknown> }>;
  /** High availability: only the lease holder acts (throws when this process is not it). */
  lease?: Pick<WatchLease, 'checkBeforeSending'>;
  logger: Logger;
}

export interface AutoResponseResult {
  /** The incident journalling this response (`sealwatch incident show ID`), when one was made. */
  incident?: string;
  outcome: 'off' | 'done' | 'refused' | 'failed' | 'already' | 'standby';
  message: string;
}

/** What a response needs of its alert (journalled with the incident, so a resume rebuilds it). */
export type DetectionRef = Pick<AlertRecord, 'fingerprint' | 'rule' | 'labels' | 'started_at'>;

/** An accessor the responder must not revoke: its own token or the watch's. */
export class ProtectedAccessorError extends SealwatchError {
  constructor(accessor: string, whose: string) {
    super(
      'auto_response_refused',
      `refused to revoke accessor ${accessor}: it is ${whose} (revoking it would blind or disarm sealwatch itself)`,
    );
  }
}

/** `auto-<fingerprint>-<YYYYMMDDTHHMMSS>`: one response per alert episode, found again after a restart or takeover. */
export function autoResponseIncidentId(alert: Pick<DetectionRef, 'fingerprint' | 'started_at'>): string {
  const at = alert.started_at
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '')
    .replace(/Z$/, '');
  return `auto-${alert.fingerprint}-${at}`;
}

/**
 * Automatic response to detections (docs/watch.md → Automatic response). `onDetection` is called
 * when a detection alert first fires; it acts only for rules named in `watch.auto_response`, once
 * per alert episode, and journals the action as a step of a `watch-auto-response` incident through
 * the playbook engine (before and after, with evidence and a verification). It never throws: what
 * it could not do is journalled and logged, and the alert stays as it is.
 */
export function createAutoResponder(deps: AutoResponseDeps) {
  let protectedSet: Promise<Map<string, string>> | undefined;
  /** The responder's own accessor (looked up once) and the configured ones. */
  const protectedAccessors = () =>
    (protectedSet ??= deps.vault.tokenLookupSelf().then(
      (self) =>
        new Map([
          ...(deps.protectedAccessors ?? []).map((a) => [a, "the watch's own token"] as const),
          [self.accessor, "the responder's own token"] as const,
        ]),
      (error: unknown) => {
        protectedSet = undefined;
        throw new SealwatchError(
          'auto_response_unavailable',
          `could not read the responder's own token (needs read on auth/token/lookup-self): ${errorMessage(error)}`,
          { cause: error },
        );
      },
    ));

  /** The live accessor behind an alert's label (audit devices HMAC accessors by default), found once. */
  const resolved = new Map<string, Promise<string>>();
  const accessorOf = (label: string) => {
    let found = resolved.get(label);
    if (!found) {
      found = resolveHashedAccessor(deps.vault, label);
      // A failed search is tried again on resume; the step fails with its reason meanwhile.
      found.catch(() => resolved.delete(label));
      resolved.set(label, found);
    }
    return found;
  };

  /** Why this alert's accessor is not revoked (none named, or a protected one), if so. */
  async function revokeRefusal(alert: DetectionRef): Promise<string | undefined> {
    const label = alert.labels['accessor'];
    if (!label) return `alert ${alert.fingerprint} has no accessor label: nothing to revoke`;
    let accessor: string;
    try {
      accessor = await accessorOf(label);
    } catch (error) {
      // Not a refusal: the step runs, and fails with why the token could not be found.
      deps.logger.warn({ err: error, label }, 'could not find the token behind a hashed accessor');
      return undefined;
    }
    const whose = (await protectedAccessors()).get(accessor);
    return whose ? new ProtectedAccessorError(accessor, whose).message : undefined;
  }

  function revokeStep(alert: DetectionRef): Step {
    const accessor = alert.labels['accessor'];
    return {
      id: 'revoke-accessor',
      title: `revoke the token of accessor ${accessor ?? '(none)'} (alert ${alert.rule} ${alert.fingerprint})`,
      targetSeconds: 5,
      needsApproval: false,
      plan: async () => [
        { action: `revoke the token with accessor ${accessor} and its children`, destructive: true },
      ],
      skip: () => revokeRefusal(alert),
      run: async () => {
        const label = accessor!;
        const live = await accessorOf(label);
        const token = await deps.vault.tokenLookupAccessor(live).then(
          (t) => ({ display_name: t.display_name, policies: t.policies, path: t.path }),
          // Already gone (revoked by hand, expired): revoking it again is harmless, the verify says so.
          (error: unknown) => ({ lookup_error: errorMessage(error) }),
        );
        await deps.vault.tokenRevokeAccessor(live);
        return {
          evidence: {
            accessor: live,
            ...(live === label ? {} : { logged_as: label }),
            ...token,
            alert: alert.fingerprint,
            rule: alert.rule,
          },
        };
      },
      verify: async () => {
        let live: string;
        try {
          live = await accessorOf(accessor!);
        } catch (error) {
          // Every live accessor was hashed and none matched: the token is gone (a resumed verify).
          if (error instanceof SealwatchError && error.code === HASHED_ACCESSOR_NOT_LIVE)
            return { ok: true, evidence: { accessor, lookup: errorMessage(error) } };
          throw error;
        }
        const after = await deps.vault.tokenLookupAccessor(live).then(
          () => undefined,
          (error: unknown) => errorMessage(error),
        );
        return after === undefined
          ? { ok: false, evidence: { accessor, lookup: 'the token still answers a lookup' } }
          : { ok: true, evidence: { accessor, lookup: `refused: ${after}` } };
      },
    };
  }

  function openIncidentStep(alert: DetectionRef): Step {
    const breachId = autoResponseIncidentId(alert).replace(/^auto-/, 'breach-');
    const since = new Date(Date.parse(alert.started_at) - 60 * 60_000).toISOString();
    const accessor = alert.labels['accessor'];
    const request = { since, ...(accessor ? { suspects: [`accessor:${accessor}`] } : {}) };
    return {
      id: 'open-breach-incident',
      title: `open breach incident ${breachId} with its dry-run plan (alert ${alert.rule} ${alert.fingerprint})`,
      targetSeconds: 30,
      needsApproval: false,
      plan: async () => [
        { action: `declare breach incident ${breachId} (not run) and plan it`, details: request },
      ],
      skip: async () => (deps.breach ? undefined : 'no breach playbook was given to watch'),
      run: async () => {
        const { steps, options } = await deps.breach!(request);
        const plan = await planEachStep(steps, options);
        if (!(await deps.store.incidents.get(breachId)))
          await deps.incidents.declare({
            type: 'breach',
            id: breachId,
            steps,
            severity: 'critical',
            options,
            declaredBy: `sealwatch watch (alert ${alert.rule} ${alert.fingerprint})`,
          });
        return {
          evidence: {
            breach_incident: breachId,
            steps: plan.steps.length,
            target_seconds: plan.target_seconds,
          },
          outputs: { breach_incident: breachId, plan },
        };
      },
      verify: async () => {
        const declared = await deps.store.incidents.get(breachId);
        return {
          ok: declared !== undefined,
          evidence: { breach_incident: breachId, state: declared?.state ?? null },
        };
      },
    };
  }

  /**
   * The dry-run plan, step by step: watch holds no key shares and no terminal, so a step that needs
   * them (rekey: the new shares' destination) cannot be planned here. That step says why, and the
   * others are still planned, instead of no plan at all.
   */
  async function planEachStep(steps: readonly Step[], options: Record<string, unknown>) {
    const planned: (PlaybookPlan['steps'][number] & { could_not_plan?: string })[] = [];
    for (const step of steps) {
      const one = await deps.incidents.plan([step], options).then(
        (p) => p.steps[0]!,
        // Kept as the step's own finding ("could not plan: …"), never dropped.
        (error: unknown) => ({
          id: step.id,
          title: step.title,
          target_seconds: step.targetSeconds,
          needs_approval: step.needsApproval,
          actions: [],
          could_not_plan: errorMessage(error),
        }),
      );
      planned.push(one);
    }
    return { steps: planned, target_seconds: planned.reduce((sum, s) => sum + s.target_seconds, 0) };
  }

  async function respond(alert: AlertRecord): Promise<AutoResponseResult> {
    const action = deps.actions[alert.rule];
    if (!action) return { outcome: 'off', message: `no automatic response for ${alert.rule}` };
    if (deps.lease) {
      const holder = await deps.lease.checkBeforeSending().then(
        () => true,
        // Not the lease holder: the holder responds (once, by the incident id).
        () => false,
      );
      if (!holder) return { outcome: 'standby', message: 'another watch holds the lease and responds' };
    }
    const id = autoResponseIncidentId(alert);
    const existing = await deps.store.incidents.get(id);
    if (existing?.state === 'completed')
      return { incident: id, outcome: 'already', message: `incident ${id} responded to this alert already` };
    const steps = stepsFor(alert, action);
    if (!existing)
      await deps.incidents.declare({
        type: AUTO_RESPONSE_INCIDENT,
        id,
        steps,
        severity: alert.severity === 'critical' ? 'critical' : 'high',
        options: {
          action,
          alert: {
            fingerprint: alert.fingerprint,
            rule: alert.rule,
            labels: alert.labels,
            started_at: alert.started_at,
          },
        },
        declaredBy: 'sealwatch watch (auto_response)',
      });
    // Configured per rule by the operator: that switch is the approval, and the journal says so.
    const result = await deps.incidents.run(id, steps, { approve: approveAll('watch.auto_response') });
    const refusal = action === 'revoke-accessor' ? await revokeRefusal(alert) : undefined;
    if (refusal) return { incident: id, outcome: 'refused', message: refusal };
    return {
      incident: id,
      outcome: result.state === 'completed' ? 'done' : 'failed',
      message: result.message ?? `incident ${id}: ${result.state}`,
    };
  }

  /** The one step of a response (also how `incident resume` rebuilds it). */
  function stepsFor(alert: DetectionRef, action: AutoResponseAction): Step[] {
    return [action === 'revoke-accessor' ? revokeStep(alert) : openIncidentStep(alert)];
  }

  return {
    stepsFor,
    /** Called by watch when a detection alert first fires. Never throws. */
    async onDetection(alert: AlertRecord): Promise<void> {
      await respondTo(alert);
    },
    /** The same, answering what happened (tests, the CLI's logs). */
    respondTo,
  };

  async function respondTo(alert: AlertRecord): Promise<AutoResponseResult> {
    try {
      const result = await respond(alert);
      const log = { alert: alert.fingerprint, rule: alert.rule, ...result };
      if (result.outcome === 'refused' || result.outcome === 'failed')
        deps.logger.warn(log, 'automatic response not carried out');
      else if (result.outcome !== 'off') deps.logger.info(log, 'automatic response');
      return result;
    } catch (error) {
      // The hook must never break watch's cycle: the failure is logged here and journalled by the engine.
      deps.logger.error(
        { err: error, alert: alert.fingerprint, rule: alert.rule },
        'automatic response failed',
      );
      return { outcome: 'failed', message: errorMessage(error) };
    }
  }
}

export type AutoResponder = ReturnType<typeof createAutoResponder>;

/** `respond breach`'s playbook for the options an `open-incident` response asks for. */
export const breachFor = (deps: PlaybookDeps) => async (request: Record<string, unknown>) => {
  const options = breachOptionsSchema.parse(request);
  return { steps: await breachPlaybook(deps, options), options };
};

const autoResponseOptionsSchema = z.object({
  action: z.enum(AUTO_RESPONSE_ACTIONS),
  alert: z.object({
    fingerprint: z.string(),
    rule: z.string(),
    labels: z.record(z.string(), z.string()),
    started_at: z.string(),
  }),
});

/**
 * `incident resume auto-…`: rebuilds the response's step from its journalled options, with the
 * resuming operator's client (a response that failed — Vault down, a permission missing — is
 * finished by hand).
 */
export const autoResponsePlaybook: PlaybookFactory = (deps, raw) => {
  const options = autoResponseOptionsSchema.parse(raw);
  const responder = createAutoResponder({
    actions: { [options.alert.rule]: options.action },
    vault: deps.vault,
    store: deps.store,
    incidents: createIncidents({ store: deps.store, logger: deps.logger, playbooks: {} }),
    breach: breachFor(deps),
    logger: deps.logger,
  });
  return responder.stepsFor(options.alert, options.action);
};
