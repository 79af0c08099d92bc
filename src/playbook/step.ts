import type { Logger } from '../logging/logger.js';

/**
 * A playbook is an ordered list of steps run by the playbook engine (playbook.engine.ts), which
 * journals each step before and after it runs, so `incident resume` continues where a crash
 * stopped. Steps are plain objects: `plan` says what would be done (data, for --dry-run), `run`
 * does it and must be idempotent (a resumed incident may run a step that was cut off half-way
 * again), `verify` proves the effect in the real system.
 */
export interface PlanEntry {
  /** What would be done, in words an operator reads at 3 a.m.: "revoke every token under auth/approle/". */
  action: string;
  /** Counts or names that make the plan concrete (`{ tokens: 312 }`); never a secret. */
  details?: Record<string, unknown>;
  /** Whether this part changes or destroys state (shown as such in the plan). */
  destructive?: boolean;
}

export interface StepEvidence {
  /** Short facts for the report and journal: counts, ids, checksums, paths. Never a secret value. */
  [key: string]: unknown;
}

export interface StepOutcome {
  evidence: StepEvidence;
  /**
   * Values later steps read (the assessment's affected tenants, the rotation run id), stored in
   * the journal with the step. Never a secret: keys, tokens and passwords stay in memory or go to
   * the files the operator named.
   */
  outputs?: Record<string, unknown>;
}

export interface VerifyOutcome {
  ok: boolean;
  /** What was checked and what was seen ("a pre-incident token was refused with 403"). */
  evidence: StepEvidence;
}

export interface StepContext<S = Record<string, unknown>> {
  incidentId: string;
  logger: Logger;
  /** Aborted when the operator interrupts (SIGINT): stop at a safe point; the journal keeps the rest. */
  signal: AbortSignal;
  /** `outputs` of every step completed so far, by step id. */
  outputs: Readonly<Record<string, Record<string, unknown> | undefined>>;
  /** Options the incident was declared with (containment mode, window, kinds, …). */
  options: Readonly<S>;
  /** Progress for the operator (stderr); not a log. */
  progress: (message: string) => void;
  /**
   * Declares a secret value this step holds (a value read or generated): the engine removes it from
   * everything it journals, reports or prints — evidence, outputs, error messages, progress.
   * Optional so that tests can build a context by hand; the engine always provides it.
   */
  sensitive?(value: string): void;
}

export interface Step<S = Record<string, unknown>> {
  id: string;
  title: string;
  /** The procedure's recovery target for this step, in seconds; the report shows it beside the measured time. */
  targetSeconds: number;
  /** Destructive steps ask before they run unless the operator said --yes. */
  needsApproval: boolean;
  plan(ctx: StepContext<S>): Promise<PlanEntry[]>;
  run(ctx: StepContext<S>): Promise<StepOutcome>;
  verify?(ctx: StepContext<S>, outcome: StepOutcome): Promise<VerifyOutcome>;
  /**
   * Why this step does not apply to this incident (no PGP keys given, nothing sealed), or undefined
   * to run it. Asked before approval; a skipped step is journalled `skipped` with the reason.
   */
  skip?(ctx: StepContext<S>): Promise<string | undefined>;
}
