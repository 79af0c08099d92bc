import type { Config } from '../../config/load.js';
import { assess, type AssessScope } from '../../assess/assess.service.js';
import { scopeInputs, type ScopeInputDeps } from '../../assess/scope-inputs.js';
import { SealwatchError } from '../../errors.js';
import { ingestAuditFiles } from '../../audit/ingest.js';
import type { Step } from '../../playbook/step.js';
import type { Store } from '../../store/store.js';
import { PathTemplateMatcher } from '../../config/path-template.js';
import type { Logger } from '../../logging/logger.js';

export interface AssessStepOptions {
  /** Start of the breach window. */
  since: string;
  /** Audit logs to ingest first (file devices); already ingested lines are stored once. */
  audit_logs: string[];
  /** What the responder knows (--suspect and the config's suspects:), time bounds as ISO times. */
  suspects: string[];
  /** Which tenants are affected (--scope). */
  scope: AssessScope;
}

/**
 * The implicated scope is empty although secrets were read in the window: the step stops (the
 * incident stays resumable) until the responder names a suspect or picks a scope.
 */
export class ScopeDecisionError extends SealwatchError {
  constructor(message: string) {
    super('scope_decision_needed', message);
  }
}

export interface AssessStepDeps {
  store: Pick<Store, 'auditEvents' | 'auditAnalysis' | 'revokedAccessors'>;
  config: Pick<Config, 'tenancy' | 'assess'>;
  logger: Logger;
  vault: ScopeInputDeps['vault'];
  /** The leaked token of `--suspect token-stdin` (standard input; never journalled). */
  readTokenStdin?: () => Promise<string>;
}

/**
 * "Assess (5–15 min)": ingest the audit logs, then the breach assessment over the window. Its
 * affected tenants are what the notify step writes to. Safe to run again: ingestion stores each
 * event once and the assessment only reads.
 */
export function createAssessStep(deps: AssessStepDeps): Step<AssessStepOptions> {
  return {
    id: 'assess',
    title: 'Assess the breach from the audit log',
    targetSeconds: 15 * 60,
    needsApproval: false,
    async plan({ options }) {
      return [
        ...options.audit_logs.map((file) => ({ action: `ingest audit log ${file}` })),
        {
          action: `assess every stored event since ${options.since}: suspicious events, secrets read, affected tenants (scope ${options.scope}), actors`,
        },
        ...options.suspects.map((suspect) => ({
          action: `implicate every actor matching suspect ${suspect}`,
        })),
      ];
    },
    async run({ options }) {
      const ingested = await ingestAuditFiles(options.audit_logs, {
        store: deps.store,
        matcher: new PathTemplateMatcher(deps.config.tenancy.paths),
        logger: deps.logger,
      });
      const unreadable = ingested.failures.map((f) => f.error.message);
      const inputs = await scopeInputs(
        { suspects: options.suspects, scope: options.scope },
        {
          vault: deps.vault,
          config: deps.config,
          ...(deps.readTokenStdin ? { readTokenStdin: deps.readTokenStdin } : {}),
        },
      );
      const assessment = await assess(
        { since: new Date(options.since), ...inputs.request },
        {
          analysis: deps.store.auditAnalysis,
          revoked: deps.store.revokedAccessors,
          config: deps.config,
          logger: deps.logger,
          allTenants: inputs.allTenants,
          ...(inputs.couldRead ? { couldRead: inputs.couldRead } : {}),
        },
      );
      // Never "no affected tenant" because the attacker was polite: the responder decides.
      if (assessment.scope_decision !== null) throw new ScopeDecisionError(assessment.scope_decision);
      const couldNotAssess = assessment.could_not_assess;
      return {
        evidence: {
          // First, so the journal and the report show that the zeros below mean "not looked at".
          ...(couldNotAssess === null
            ? {}
            : {
                could_not_assess: couldNotAssess,
                follow_ups: [
                  `The assessment saw no audit event since ${options.since}, so no tenant is known to be affected or not: ${couldNotAssess}; then run sealwatch assess --since ${options.since}.`,
                ],
              }),
          events_examined: assessment.events_examined,
          data_since: assessment.data_since,
          audit_lines: ingested.counts.lines,
          events_stored: ingested.counts.events,
          malformed_lines: ingested.counts.malformed,
          unreadable_logs: unreadable,
          breach_detected_at: assessment.breach_detected_at,
          suspicious_events: assessment.suspicious_events,
          rules_fired: assessment.rules.filter((r) => r.events > 0).map((r) => `${r.id} (${r.events})`),
          accessed_secrets: assessment.accessed_secrets,
          affected_tenants: assessment.affected_tenants.length,
          at_risk_tenants: assessment.at_risk_tenants.length,
          scope: assessment.scope,
          suspects: assessment.suspects,
          window_secret_reads: assessment.window_secret_reads,
          breach_scope: assessment.breach_scope,
          actors: assessment.actors.map((a) => ({
            display_name: a.display_name,
            remote_addresses: a.remote_addresses,
            reads: a.reads,
            read_tenants: a.tenants,
            could_read: a.could_read,
            denied: a.denied,
            reasons: a.reasons,
          })),
          suspect_reach: assessment.suspect_reach,
          notes: assessment.notes,
          not_audited: assessment.not_audited,
        },
        outputs: {
          could_not_assess: couldNotAssess,
          affected_tenants: assessment.affected_tenants,
          at_risk_tenants: assessment.at_risk_tenants,
          scope: assessment.scope,
          window_secret_reads: assessment.window_secret_reads,
          breach_scope: assessment.breach_scope,
          breach_detected_at: assessment.breach_detected_at,
          suspicious_events: assessment.suspicious_events,
          accessed_secrets: assessment.accessed_secrets,
        },
      };
    },
  };
}
