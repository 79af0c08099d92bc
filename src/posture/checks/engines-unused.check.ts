import type { PostureCheck, PostureFinding } from '../check.js';
import { auditWindow, emptyWindowFinding } from '../audit-window.js';
import { secretEnginesOrRefusal } from './engine-mounts.js';

const check = { id: 'engines-unused', area: 'engines' } as const;
const raised = { check: check.id, area: check.area } as const;

/** Secret engines with no successful read or write in the audit window (from the audit store). */
export const enginesUnusedCheck: PostureCheck = {
  ...check,
  title: 'secret engines with no read or write in the audit window',
  async run(ctx) {
    const read = await secretEnginesOrRefusal(ctx, check);
    if ('refused' in read) return [read.refused];
    const { mounts } = read;
    if (Object.keys(mounts).length === 0) return [];
    const empty = await emptyWindowFinding(ctx, check, 'which secret engines are used');
    if (empty) return [empty];
    const used = await ctx.store.postureUsage.usedMounts(auditWindow(ctx), Object.keys(mounts));
    const findings: PostureFinding[] = [];
    for (const path of Object.keys(mounts).sort()) {
      if (used.has(path)) continue;
      findings.push({
        id: `engines-unused:${path}`,
        ...raised,
        severity: 'low',
        title: `secret engine ${path} (${mounts[path]!.type}) had no read or write since ${ctx.since.toISOString()}`,
        evidence: { mount: path, type: mounts[path]!.type, since: ctx.since.toISOString() },
        why: 'an engine nobody reads still holds secrets and credentials to other systems; it is attack surface without a user',
        fix: `export what it holds first (disabling deletes it), then: bao secrets disable ${path}`,
      });
    }
    return findings;
  },
};
