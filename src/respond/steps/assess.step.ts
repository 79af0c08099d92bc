import type { Config } from '../../config/load.js';
import { assess } from '../../assess/assess.service.js';
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
}

export interface AssessStepDeps {
  store: Pick<Store, 'auditEvents' | 'auditAnalysis'>;
  config: Pick<Config, 'tenancy' | 'assess'>;
  logger: Logger;
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
          action: `assess every stored event since ${options.since}: suspicious events, secrets read, affected tenants, actors`,
        },
      ];
    },
    async run({ options }) {
      const ingested = await ingestAuditFiles(options.audit_logs, {
        store: deps.store,
        matcher: new PathTemplateMatcher(deps.config.tenancy.paths),
        logger: deps.logger,
      });
      const unreadable = ingested.failures.map((f) => f.error.message);
      const assessment = await assess(
        { since: new Date(options.since) },
        { analysis: deps.store.auditAnalysis, config: deps.config, logger: deps.logger },
      );
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
          breach_scope: assessment.breach_scope,
          actors: assessment.actors.map((a) => ({
            display_name: a.display_name,
            remote_addresses: a.remote_addresses,
            reads: a.reads,
            denied: a.denied,
          })),
          not_audited: assessment.not_audited,
        },
        outputs: {
          could_not_assess: couldNotAssess,
          affected_tenants: assessment.affected_tenants,
          breach_scope: assessment.breach_scope,
          breach_detected_at: assessment.breach_detected_at,
          suspicious_events: assessment.suspicious_events,
          accessed_secrets: assessment.accessed_secrets,
        },
      };
    },
  };
}
