import type { PostureCheck, PostureFinding } from '../check.js';
import { auditWindow, emptyWindowFinding } from '../audit-window.js';
import { gapFindings, policyFacts } from './policy-set.js';

const check = { id: 'policy-unused', area: 'policies' } as const;
const raised = { check: check.id, area: check.area } as const;

/** Built in: `default` is attached to nearly every token, `root` has no rules. */
const BUILT_IN = new Set(['default', 'root']);

/**
 * ACL policies no request carried in the audit window (the token policies of each request's
 * auth, as the audit store keeps them), `default` and `root` aside. A policy attached only through
 * identity (entity or group policies) is not in the token policies the device logs, so it shows
 * here too: the finding is low and says so.
 */
export const policyUnusedCheck: PostureCheck = {
  ...check,
  title: 'policies no request used in the audit window',
  async run(ctx) {
    const facts = await policyFacts(ctx);
    const findings: PostureFinding[] = gapFindings(check, facts.policyGaps);
    const candidates = facts.policies.map((p) => p.name).filter((n) => !BUILT_IN.has(n));
    if (candidates.length === 0) return findings;
    const empty = await emptyWindowFinding(ctx, check, 'which policies are used');
    if (empty) return [...findings, empty];
    const used = new Set<string>();
    for (const set of await ctx.store.postureUsage.policySets(auditWindow(ctx)))
      for (const name of set) used.add(name);
    for (const name of candidates.sort()) {
      if (used.has(name)) continue;
      findings.push({
        id: `policy-unused:${name}`,
        ...raised,
        severity: 'low',
        title: `policy ${name} was carried by no request since ${ctx.since.toISOString()}`,
        evidence: { policy: name, since: ctx.since.toISOString(), policies_used_in_window: used.size },
        why: 'a grant nobody uses is privilege waiting for the wrong holder; least privilege means removing it (a policy attached only through identity groups shows here too: check those first)',
        fix: `bao policy read ${name} > ${name}.hcl && bao policy delete ${name}`,
      });
    }
    return findings;
  },
};
