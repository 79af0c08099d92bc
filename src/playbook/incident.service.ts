import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { SealwatchError, UsageError, systemErrorCode } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Incident, IncidentEvent, IncidentStep } from '../store/repositories/incident.repository.js';
import type { Store } from '../store/store.js';
import {
  planPlaybook,
  runPlaybook,
  type Approver,
  type PlaybookPlan,
  type PlaybookResult,
} from './playbook.engine.js';
import { playbookFor, type PlaybookDeps, type PlaybookRegistry } from './registry.js';
import { buildReport, type IncidentReport } from './report.js';
import type { Step } from './step.js';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface IncidentServiceDeps {
  store: Pick<Store, 'incidents'>;
  logger: Logger;
  /** Incident type → playbook, to rebuild the steps of an incident on resume. */
  playbooks: PlaybookRegistry;
  /** What a playbook is built from; called only when one must be rebuilt (resume). */
  playbookDeps?: () => PlaybookDeps;
}

export interface DeclareInput {
  type: string;
  /** The playbook's steps: journalled `pending` with the incident, so the report lists every one. */
  steps: readonly Step[];
  severity?: Severity;
  /** Who declared it; default the OS user. */
  declaredBy?: string;
  /**
   * What the playbook is rebuilt from on resume, journalled as JSON. Never a secret: key shares
   * and tokens come from files or stdin at run time.
   */
  options?: Record<string, unknown>;
  /** A given incident id (`--incident ID`); default `inc-YYYYMMDD-xxxx`. */
  id?: string;
}

export interface RunHooks {
  approve: Approver;
  signal?: AbortSignal;
  progress?: (message: string) => void;
  /** Take the incident over from a holder on another host that is known to be gone. */
  takeOver?: boolean;
}

export interface IncidentDetail {
  incident: Incident;
  steps: IncidentStep[];
  events: IncidentEvent[];
}

export class IncidentNotFoundError extends SealwatchError {
  constructor(ref: string) {
    super(
      'incident_not_found',
      ref === 'last'
        ? 'no unfinished incident in the store (sealwatch incident list shows them all)'
        : `no incident ${ref} in the store (sealwatch incident list shows them)`,
      { details: { incident: ref } },
    );
  }
}

export class IncidentBusyError extends SealwatchError {
  constructor(id: string, owner: string, sameHost: boolean) {
    super(
      'incident_busy',
      sameHost
        ? `incident ${id} is being run by process ${owner}: wait for it or stop it, then resume`
        : `incident ${id} is held by ${owner} on another host: if that process is gone, resume with --take-over`,
      { details: { incident: id, owner } },
    );
  }
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function newIncidentId(at = new Date()): string {
  return `inc-${at.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(2).toString('hex')}`;
}

export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): the environment names the operator instead.
    return process.env['USER'] ?? 'unknown';
  }
}

const processOwner = () => `${hostname()}:${process.pid}`;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists and belongs to someone else.
    return systemErrorCode(error) === 'EPERM';
  }
}

/**
 * Incidents: declare one with its playbook's steps, run or resume the playbook through the engine,
 * and read the journal back as a detail view or a report. `respond breach` and `incident resume`
 * both go through here.
 */
export function createIncidents(deps: IncidentServiceDeps) {
  const repo = deps.store.incidents;
  const me = processOwner();

  async function declare(input: DeclareInput): Promise<Incident> {
    if (input.id !== undefined && !ID_PATTERN.test(input.id))
      throw new UsageError(
        `incident id ${JSON.stringify(input.id)}: use letters, digits, '.', '_' and '-' (at most 64)`,
      );
    const ids = new Set(input.steps.map((s) => s.id));
    if (ids.size !== input.steps.length) throw new UsageError(`playbook ${input.type}: step ids repeat`);
    const incident: Incident = {
      id: input.id ?? newIncidentId(),
      type: input.type,
      severity: input.severity ?? 'high',
      declared_by: input.declaredBy ?? currentUser(),
      created_at: new Date().toISOString(),
      updated_at: '',
      completed_at: null,
      state: 'declared',
      options: input.options ?? {},
      owner: null,
    };
    if (await repo.get(incident.id))
      throw new UsageError(
        `incident ${incident.id} exists already: sealwatch incident resume ${incident.id}`,
      );
    await repo.create(
      incident,
      input.steps.map((s) => ({
        step_id: s.id,
        title: s.title,
        target_seconds: s.targetSeconds,
        needs_approval: s.needsApproval,
      })),
    );
    deps.logger.info({ incident: incident.id, type: incident.type }, 'incident declared');
    return { ...incident, updated_at: incident.created_at };
  }

  async function get(id: string): Promise<Incident> {
    const incident = await repo.get(id);
    if (!incident) throw new IncidentNotFoundError(id);
    return incident;
  }

  /** `last` is the newest unfinished incident. */
  async function resolve(ref: string): Promise<Incident> {
    if (ref !== 'last') return get(ref);
    const incident = await repo.latestUnfinished();
    if (!incident) throw new IncidentNotFoundError('last');
    return incident;
  }

  async function claim(incident: Incident, takeOver: boolean): Promise<void> {
    const holder = incident.owner;
    if (holder !== null && holder !== me) {
      const separator = holder.lastIndexOf(':');
      const host = holder.slice(0, separator);
      const pid = Number(holder.slice(separator + 1));
      const sameHost = host === hostname();
      if (sameHost ? isAlive(pid) : !takeOver) throw new IncidentBusyError(incident.id, holder, sameHost);
    }
    if (!(await repo.claim(incident.id, me, holder)))
      throw new IncidentBusyError(incident.id, 'another process', true);
  }

  /** Runs (or continues) the incident's playbook with these steps; finished steps are not run again. */
  async function run(incidentId: string, steps: readonly Step[], hooks: RunHooks): Promise<PlaybookResult> {
    const incident = await get(incidentId);
    if (incident.state === 'completed')
      return {
        incidentId,
        state: 'completed',
        message: `incident ${incidentId} is completed: nothing to run`,
      };
    await claim(incident, hooks.takeOver ?? false);
    try {
      return await runPlaybook(
        {
          incident,
          steps,
          approve: hooks.approve,
          ...(hooks.signal ? { signal: hooks.signal } : {}),
          ...(hooks.progress ? { progress: hooks.progress } : {}),
        },
        { journal: repo, logger: deps.logger },
      );
    } finally {
      await repo.update(incidentId, { owner: null });
    }
  }

  /** Rebuilds the playbook of the incident's type from its journalled options and continues it. */
  async function resume(
    ref: string,
    hooks: RunHooks,
    /** Options given again on resume (e.g. --suspect, --scope): merged over the journalled ones and journalled. */
    amend?: Record<string, unknown>,
  ): Promise<PlaybookResult> {
    const incident = await resolve(ref);
    if (incident.state === 'completed')
      return {
        incidentId: incident.id,
        state: 'completed',
        message: `incident ${incident.id} is completed: nothing to resume`,
      };
    const factory = playbookFor(deps.playbooks, incident.type);
    if (!deps.playbookDeps)
      throw new UsageError(`resuming a ${incident.type} incident needs the playbook's dependencies`);
    const amended = amend && Object.keys(amend).length ? { ...incident.options, ...amend } : undefined;
    // Built before the options are journalled: options the playbook refuses change nothing.
    const steps = await factory(deps.playbookDeps(), amended ?? incident.options);
    if (amended)
      await repo.amendOptions(incident.id, amended, {
        event: 'options_amended',
        details: { options: amend },
      });
    return run(incident.id, steps, hooks);
  }

  async function plan(steps: readonly Step[], options: Record<string, unknown>): Promise<PlaybookPlan> {
    return planPlaybook(steps, { options, logger: deps.logger });
  }

  async function show(ref: string): Promise<IncidentDetail> {
    const incident = await resolve(ref);
    return { incident, steps: await repo.steps(incident.id), events: await repo.events(incident.id) };
  }

  async function report(ref: string): Promise<IncidentReport> {
    const detail = await show(ref);
    return buildReport(detail);
  }

  return { declare, run, resume, plan, list: (limit?: number) => repo.list(limit), show, report, resolve };
}

export type Incidents = ReturnType<typeof createIncidents>;
