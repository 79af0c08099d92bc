import { z } from 'zod';
import type { Config } from '../config/load.js';
import { SealwatchError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { FINDING_SEVERITIES, FINDING_SEVERITY_RANK, type FindingSeverity } from '../runbooks/finding.js';
import type { Store } from '../store/store.js';
import type { VaultClient } from '../vault/client.js';
import {
  POSTURE_AREAS,
  type PostureArea,
  type PostureCheck,
  type PostureContext,
  type PostureFinding,
} from './check.js';
import { POSTURE_CHECKS } from './checks/index.js';
import { scorePosture, type PostureScore } from './score.js';

export type CheckStatus = 'ok' | 'findings' | 'could-not-check';

/** `sealwatch posture --format json`: the documented, stable shape (docs/json-contracts.md). */
export interface PostureReport {
  generated_at: string;
  server: { addr: string; version: string; cluster_id: string | null };
  /** Start of the audit window the usage checks looked at. */
  since: string;
  score: PostureScore;
  findings: PostureFinding[];
  checks: { id: string; area: PostureArea; title: string; status: CheckStatus; error?: string }[];
}

export interface PostureDiff {
  baseline: { id: number; taken_at: string };
  generated_at: string;
  server: PostureReport['server'];
  new: PostureFinding[];
  fixed: PostureFinding[];
  changed: { id: string; before: PostureFinding; after: PostureFinding; fields: string[] }[];
  unchanged: number;
}

/** A finding as stored (baselines, the journal of posture fix): parsed back with this. */
export const findingSchema = z.object({
  id: z.string(),
  check: z.string(),
  area: z.enum(POSTURE_AREAS),
  severity: z.enum(FINDING_SEVERITIES),
  title: z.string(),
  evidence: z.record(z.string(), z.unknown()),
  why: z.string(),
  fix: z.string(),
});

export interface PostureDeps {
  vault: VaultClient;
  store: Store;
  config: Config;
  logger: Logger;
  /** The registry; tests pass their own list to exercise a failing check. */
  checks?: readonly PostureCheck[];
  now?: () => Date;
}

export class NoBaselineError extends SealwatchError {
  constructor(addr: string) {
    super(
      'posture_no_baseline',
      `no posture baseline of ${addr} in the store: run sealwatch posture baseline first`,
    );
  }
}

/** The composition root of `sealwatch posture`: run the checks, score, keep and compare baselines. */
export function createPosture(deps: PostureDeps) {
  const checks = deps.checks ?? POSTURE_CHECKS;
  const now = deps.now ?? (() => new Date());

  async function run(options: { since: Date; only?: readonly string[] }): Promise<PostureReport> {
    const selected = options.only?.length ? checks.filter((c) => options.only!.includes(c.id)) : checks;
    const at = now();
    const ctx: PostureContext = {
      vault: deps.vault,
      store: deps.store,
      config: deps.config,
      logger: deps.logger,
      since: options.since,
      now: at,
    };
    const status = await deps.vault.sealStatus();
    const results = await Promise.all(
      selected.map(async (check) => {
        try {
          const findings = await check.run(ctx);
          return { check, findings, error: undefined };
        } catch (error) {
          // A broken check must not hide the others: it is reported as could-not-check, with a finding.
          const message = error instanceof Error ? error.message : String(error);
          deps.logger.warn({ check: check.id, err: error }, 'posture check failed');
          return { check, findings: [couldNotCheck(check, message)], error: message };
        }
      }),
    );
    const findings = results.flatMap((r) => r.findings).sort(byAreaThenSeverity);
    return {
      generated_at: at.toISOString(),
      server: {
        addr: deps.vault.addresses[0] ?? '',
        version: status.version,
        cluster_id: status.cluster_id ?? null,
      },
      since: options.since.toISOString(),
      score: scorePosture(findings, new Set(selected.map((c) => c.area))),
      findings,
      checks: results.map(({ check, findings, error }) => ({
        id: check.id,
        area: check.area,
        title: check.title,
        status: error !== undefined ? 'could-not-check' : findings.length ? 'findings' : 'ok',
        ...(error !== undefined && { error }),
      })),
    };
  }

  return {
    run,
    /** Stores the report's findings as the server's baseline. */
    async saveBaseline(report: PostureReport): Promise<{ id: number; taken_at: string; findings: number }> {
      const id = await deps.store.postureBaselines.save({
        taken_at: report.generated_at,
        server: serverKey(report),
        findings: JSON.stringify(report.findings),
      });
      return { id, taken_at: report.generated_at, findings: report.findings.length };
    },
    /** New, fixed and changed findings of `report` against the server's newest baseline. */
    async diff(report: PostureReport): Promise<PostureDiff> {
      const stored = await deps.store.postureBaselines.latest(serverKey(report));
      if (!stored) throw new NoBaselineError(report.server.addr);
      const before = z.array(findingSchema).parse(JSON.parse(stored.findings));
      return diffFindings(before, report, { id: stored.id, taken_at: stored.taken_at });
    },
  };
}

export type Posture = ReturnType<typeof createPosture>;

const serverKey = (report: PostureReport) => report.server.cluster_id ?? report.server.addr;

export function diffFindings(
  before: readonly PostureFinding[],
  report: PostureReport,
  baseline: PostureDiff['baseline'],
): PostureDiff {
  const old = new Map(before.map((f) => [f.id, f]));
  const current = new Map(report.findings.map((f) => [f.id, f]));
  const changed: PostureDiff['changed'] = [];
  let unchanged = 0;
  for (const [id, after] of current) {
    const was = old.get(id);
    if (!was) continue;
    const fields: string[] = (['severity', 'title', 'fix'] as const).filter((k) => was[k] !== after[k]);
    if (JSON.stringify(was.evidence) !== JSON.stringify(after.evidence)) fields.push('evidence');
    if (fields.length) changed.push({ id, before: was, after, fields });
    else unchanged++;
  }
  return {
    baseline,
    generated_at: report.generated_at,
    server: report.server,
    new: report.findings.filter((f) => !old.has(f.id)),
    fixed: before.filter((f) => !current.has(f.id)),
    changed,
    unchanged,
  };
}

function couldNotCheck(check: PostureCheck, message: string): PostureFinding {
  return {
    id: `${check.id}:could-not-check`,
    check: check.id,
    area: check.area,
    severity: 'medium',
    title: `check ${check.id} could not run: ${message}`,
    evidence: { error: message },
    why: 'a check that did not run has not shown the posture is sound',
    fix: `sealwatch posture --only ${check.id} --log-level debug  # to see why, then fix the cause`,
  };
}

function byAreaThenSeverity(a: PostureFinding, b: PostureFinding): number {
  return (
    POSTURE_AREAS.indexOf(a.area) - POSTURE_AREAS.indexOf(b.area) ||
    FINDING_SEVERITY_RANK[b.severity] - FINDING_SEVERITY_RANK[a.severity] ||
    a.id.localeCompare(b.id)
  );
}

/** Whether any finding is at or above `severity` (the `--fail-on` gate). */
export const failsAt = (findings: readonly PostureFinding[], severity: FindingSeverity) =>
  findings.some((f) => FINDING_SEVERITY_RANK[f.severity] >= FINDING_SEVERITY_RANK[severity]);
