import type { z } from 'zod';
import { SealwatchError, UsageError } from '../errors.js';
import type { PlaybookDeps, PlaybookFactory } from '../playbook/registry.js';
import type { Step, StepContext } from '../playbook/step.js';
import { parseDuration } from '../util/duration.js';
import { COULD_NOT_CHECK } from './could-not-check.js';
import { findingSchema, isHealthy, sortFindings, type Finding } from './finding.js';

/**
 * A runbook-specific command-line flag (`--prefix <prefix>`), added to `runbook diagnose` and
 * `runbook run`. The parsed value lands in the runbook's options under commander's attribute name
 * (`--pki-mount` → `pkiMount`).
 */
export interface RunbookFlag {
  flags: string;
  description: string;
  /** For diagnose as well as run (default: run only). */
  diagnose?: boolean;
  parse?: (value: string, previous: unknown) => unknown;
  /** The option the parsed value is stored under, when not commander's attribute name (`--wait` → `waitMs`). */
  key?: string;
}

/** A flag taking a duration (`90s`, `5m`, `24h`), stored in milliseconds under `key`. */
export function durationFlag(
  flags: string,
  key: string,
  description: string,
  more: Pick<RunbookFlag, 'diagnose'> = {},
): RunbookFlag {
  return {
    flags,
    key,
    description,
    ...more,
    parse: (value) => {
      const ms = parseDuration(value);
      if (ms === undefined)
        throw new UsageError(`${flags.split(' ')[0]} ${value}: give a duration such as 90s, 5m or 24h`);
      return ms;
    },
  };
}

/**
 * What a runbook's diagnosis and steps are built from. `vault` knows every configured node;
 * diagnosis talks to each node by address and must answer in seconds even when a node hangs.
 */
export type RunbookDeps = PlaybookDeps;

/** The diagnosis as the remediation steps see it: journalled by the `diagnose` step, or made now (dry run). */
export type Diagnosis = (ctx: StepContext) => Promise<Finding[]>;

/**
 * A runbook is a playbook plus `diagnose()`. The playbook `runbook run` executes is always
 * `diagnose` → the runbook's remediation steps → `verify-healthy` (diagnose again; the incident
 * fails unless healthy), on the same engine and journal as `respond breach`, so
 * `incident resume` continues a cut-off runbook.
 */
export interface Runbook<O extends Record<string, unknown> = Record<string, unknown>> {
  readonly name: string;
  /** One line for `runbook list`. */
  readonly title: string;
  /** The symptoms that send an operator here. */
  readonly when: string;
  readonly flags: readonly RunbookFlag[];
  /**
   * Parses the command-line flags (commander attribute names) into the options that are journalled
   * and parsed again on resume: the output must parse to itself. Never a secret (files, not values).
   */
  readonly options: z.ZodType<O>;
  diagnose(deps: RunbookDeps, options: O): Promise<Finding[]>;
  /** The remediation steps; each re-checks the live state in `run` (idempotent, resumable). */
  remediation(deps: RunbookDeps, options: O, diagnosis: Diagnosis): Step<O>[];
  /**
   * Whether the cluster counts as healthy again after remediation (default: no finding above
   * `info`). Advisory runbooks narrow it to what they can fix.
   */
  healthy?: (findings: readonly Finding[]) => boolean;
}

export class RunbookUnhealthyError extends SealwatchError {
  constructor(runbook: string, findings: readonly Finding[]) {
    super(
      'runbook_unhealthy',
      `${runbook}: still unhealthy after remediation: ${findings.map((f) => `${f.id}${f.node ? ` (${f.node})` : ''}: ${f.symptom}`).join('; ')}`,
      { details: { findings: findings.map((f) => f.id) } },
    );
  }
}

/** What `runbook diagnose --json` prints. */
export interface RunbookDiagnosis {
  runbook: string;
  healthy: boolean;
  findings: Finding[];
}

/** Runs the diagnosis and puts the findings in a stable order. */
export async function diagnose<O extends Record<string, unknown>>(
  runbook: Runbook<O>,
  deps: RunbookDeps,
  options: O,
): Promise<RunbookDiagnosis> {
  const findings = sortFindings(await runbook.diagnose(deps, options));
  return { runbook: runbook.name, healthy: healthyVerdict(runbook, findings), findings };
}

/** A diagnosis that could not check something is never healthy, whatever the runbook narrows it to. */
function healthyVerdict<O extends Record<string, unknown>>(
  runbook: Runbook<O>,
  findings: readonly Finding[],
): boolean {
  return !findings.some((f) => f.id === COULD_NOT_CHECK) && (runbook.healthy ?? isHealthy)(findings);
}

function summary(findings: readonly Finding[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of findings) counts[f.severity] = (counts[f.severity] ?? 0) + 1;
  return counts;
}

/** Incident type of a runbook run: `runbook:sealed`. */
export const runbookIncidentType = (name: string) => `runbook:${name}`;

/** The playbook of one runbook: diagnose, remediate, verify. */
export function runbookPlaybook<O extends Record<string, unknown>>(runbook: Runbook<O>): PlaybookFactory {
  return (deps, raw) => {
    const options = runbook.options.parse(raw);
    let fresh: Promise<Finding[]> | undefined;
    const diagnosis: Diagnosis = async (ctx) => {
      const journalled = ctx.outputs['diagnose']?.['findings'];
      if (journalled !== undefined) return findingSchema.array().parse(journalled);
      fresh ??= diagnose(runbook, deps, options).then((d) => d.findings);
      return fresh;
    };
    const diagnoseStep: Step<O> = {
      id: 'diagnose',
      title: `Diagnose: ${runbook.title}`,
      targetSeconds: 3,
      needsApproval: false,
      plan: async () => [{ action: `diagnose ${runbook.name} on every configured node` }],
      run: async (ctx) => {
        const findings = await diagnosis(ctx);
        for (const f of findings)
          ctx.progress(
            `${f.severity}: ${f.symptom}${f.node && !f.symptom.includes(f.node) ? ` (${f.node})` : ''}`,
          );
        return {
          evidence: {
            healthy: healthyVerdict(runbook, findings),
            findings: findings.length,
            ...summary(findings),
          },
          outputs: { findings },
        };
      },
    };
    const verifyStep: Step<O> = {
      id: 'verify-healthy',
      title: `Verify: ${runbook.title} resolved`,
      targetSeconds: 10,
      needsApproval: false,
      plan: async () => [{ action: `diagnose ${runbook.name} again; healthy means no finding above info` }],
      run: async () => {
        const after = await diagnose(runbook, deps, options);
        if (!after.healthy)
          throw new RunbookUnhealthyError(
            runbook.name,
            after.findings.filter((f) => f.severity !== 'info'),
          );
        return { evidence: { healthy: true, findings: after.findings.length, ...summary(after.findings) } };
      },
    };
    return [diagnoseStep, ...runbook.remediation(deps, options, diagnosis), verifyStep];
  };
}
