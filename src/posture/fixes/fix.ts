import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/load.js';
import { SealwatchError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { PlanEntry, StepContext, StepOutcome } from '../../playbook/step.js';
import type { Store } from '../../store/store.js';
import type { VaultClient } from '../../vault/client.js';
import type { PostureFinding } from '../check.js';

/** What a fixer reads and changes: the server, the configuration (posture's maxima), a directory for exports. */
export interface FixDeps {
  vault: VaultClient;
  store: Store;
  config: Config;
  logger: Logger;
  /** Where a fix writes what it exports before it removes something (a mount's configuration). */
  exportDir: string;
}

/**
 * One automated fix for the findings of one kind (`posture fix`): one file per fixer in
 * src/posture/fixes/, one line in the registry (index.ts), keyed by the check that raises the findings.
 *
 * `refuse` is asked before anything changes (and again inside `apply`, since a resumed run may meet
 * a changed server): it reads the server and says why this finding must not be fixed automatically
 * here (the caller's own token, a policy other tenants' roles share). `plan` says what `apply` would
 * do, as data. `apply` is idempotent: a resumed run may apply a fix that was cut off half-way again.
 * Nothing a fixer journals (evidence, outputs) is a secret: the token itself never, accessors yes.
 */
export interface PostureFixer {
  /** `revoke-root-token`: named in the plan and the journal. */
  name: string;
  /** What it does, for the step title: "revoke the root token by accessor". */
  title: string;
  /** Whether this fixer is for this finding (a check raises several kinds; the id says which). */
  handles(finding: PostureFinding): boolean;
  refuse?(finding: PostureFinding, deps: FixDeps): Promise<string | undefined>;
  plan(finding: PostureFinding, deps: FixDeps): Promise<PlanEntry[]>;
  apply(finding: PostureFinding, deps: FixDeps, ctx: StepContext): Promise<StepOutcome>;
}

/** A fix that must not run here (refused by the fixer when it runs, e.g. after the server changed). */
export class FixRefusedError extends SealwatchError {
  constructor(findingId: string, reason: string) {
    super('posture_fix_refused', `fix of ${findingId} refused: ${reason}`, {
      details: { finding: findingId },
    });
  }
}

/** Runs the fixer's refusal inside `apply`: the state it was approved for may have changed since. */
export async function refuseOrContinue(
  fixer: PostureFixer,
  finding: PostureFinding,
  deps: FixDeps,
): Promise<void> {
  const reason = await fixer.refuse?.(finding, deps);
  if (reason !== undefined) throw new FixRefusedError(finding.id, reason);
}

/** A string field of a finding's evidence, or a clear error naming the finding (a stored finding may be old). */
export function evidenceString(finding: PostureFinding, key: string): string {
  const value = finding.evidence[key];
  if (typeof value !== 'string' || value === '')
    throw new SealwatchError(
      'posture_fix_evidence',
      `finding ${finding.id} has no ${key} in its evidence: run sealwatch posture --json again and fix the id it gives`,
    );
  return value;
}

/** `approle/` → `approle`. */
export const mountName = (path: string) => path.replace(/^\/+|\/+$/g, '');

/**
 * Writes a fix's export (a mount's configuration) as indented JSON, atomically (a temporary file
 * renamed over it) and readable by the owner only; returns the SHA-256 of what it wrote.
 */
export function writeExportFile(file: string, content: unknown): { sha256: string } {
  const text = JSON.stringify(content, null, 2) + '\n';
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
  return { sha256: createHash('sha256').update(text).digest('hex') };
}

/**
 * The outcome of a disable fix whose mount is gone already: a resumed run that disabled it before
 * a crash (its export is `file`, if there), or someone else did.
 */
export function mountAlreadyGone(mount: string, file: string): StepOutcome {
  return {
    evidence: {
      mount: `${mount}/`,
      disabled: false,
      already_gone: true,
      file: existsSync(file) ? file : null,
    },
  };
}
