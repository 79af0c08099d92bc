import type { PostureCheck, PostureFinding } from '../check.js';
import { ruleReachesMount, secretEnginesOrRefusal } from './engine-mounts.js';
import { gapFindings, policyFacts } from './policy-set.js';

const check = { id: 'engines-ungranted', area: 'engines' } as const;
const raised = { check: check.id, area: check.area } as const;

/**
 * Secret engines no ACL policy grants any capability under (deny rules do not count): only a root
 * token reaches them, so they are either leftovers or used with root tokens, both worth fixing.
 */
export const enginesUngrantedCheck: PostureCheck = {
  ...check,
  title: 'secret engines no policy grants',
  async run(ctx) {
    const read = await secretEnginesOrRefusal(ctx, check);
    if ('refused' in read) return [read.refused];
    const { mounts } = read;
    const facts = await policyFacts(ctx);
    const findings: PostureFinding[] = gapFindings(check, facts.policyGaps);
    // With a policy unread, "no policy grants it" is not known: the gaps above say what is missing.
    if (facts.policyGaps.length > 0) return findings;
    const grants = facts.policies.flatMap((p) =>
      p.rules
        .filter((r) => !r.capabilities.includes('deny') && r.capabilities.length > 0)
        .map((r) => ({ policy: p.name, rule: r })),
    );
    for (const path of Object.keys(mounts).sort()) {
      if (grants.some((g) => ruleReachesMount(g.rule, path))) continue;
      findings.push({
        id: `engines-ungranted:${path}`,
        ...raised,
        severity: 'low',
        title: `secret engine ${path} (${mounts[path]!.type}) is granted by no policy: only root tokens reach it`,
        evidence: { mount: path, type: mounts[path]!.type, policies_read: facts.policies.length },
        why: 'an engine no policy names is either a leftover holding old secrets or something people use with root tokens',
        fix: `bao read -format=json sys/mounts/${path.replace(/\/$/, '')}/tune > ${path.replace(/\W+/g, '_')}tune.json && bao secrets disable ${path}  # or grant it in the policy of whoever uses it`,
      });
    }
    return findings;
  },
};
