import { toSortableUtc } from '../util/time.js';
import type { AnalysisWindow } from '../store/repositories/audit-analysis.repository.js';
import type { PostureCheck, PostureContext, PostureFinding } from './check.js';

/** The run's audit window (`--since` to now) in the store's sortable time form. */
export function auditWindow(ctx: PostureContext): AnalysisWindow {
  return {
    since: toSortableUtc(ctx.since.toISOString())!,
    until: toSortableUtc(ctx.now.toISOString())!,
  };
}

/**
 * The finding of a usage check over an empty window: with no event stored, everything would look
 * unused (or nothing unwrapped), so the check says it could not tell instead of passing or accusing.
 */
export async function emptyWindowFinding(
  ctx: PostureContext,
  check: Pick<PostureCheck, 'id' | 'area'>,
  what: string,
): Promise<PostureFinding | undefined> {
  const stored = await eventsInWindow(ctx);
  if (stored > 0) return undefined;
  return {
    id: `${check.id}:no-audit-events`,
    check: check.id,
    area: check.area,
    severity: 'medium',
    title: `could not tell ${what}: no audit event stored since ${ctx.since.toISOString()}`,
    evidence: { since: ctx.since.toISOString() },
    why: 'usage is read from the audit store; an empty window shows nothing either way',
    fix: 'sealwatch audit follow /var/log/openbao/audit.log  # then run posture again',
  };
}

const counts = new WeakMap<PostureContext, Promise<number>>();

/** Events stored in the run's window, counted once per run for every usage check. */
export function eventsInWindow(ctx: PostureContext): Promise<number> {
  let pending = counts.get(ctx);
  if (!pending) {
    pending = ctx.store.auditAnalysis.countEvents(auditWindow(ctx));
    counts.set(ctx, pending);
  }
  return pending;
}
