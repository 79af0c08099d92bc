import type { PostureCheck, PostureFinding } from '../check.js';
import { gapFindings, policyFacts } from './policy-set.js';

/** `sudo` in a policy that is not on the configured break-glass list (`posture.break_glass_policies`). */
export const policySudoCheck: PostureCheck = {
  id: 'policy-sudo',
  area: 'policies',
  title: 'sudo outside the break-glass policies',
  async run(ctx) {
    const facts = await policyFacts(ctx);
    const allowed = new Set(ctx.config.posture.breakGlassPolicies);
    const findings: PostureFinding[] = gapFindings(this, facts.couldNotRead);
    for (const policy of facts.policies) {
      if (allowed.has(policy.name)) continue;
      const paths = [
        ...new Set(policy.rules.filter((r) => r.capabilities.includes('sudo')).map((r) => r.path)),
      ];
      if (paths.length === 0) continue;
      findings.push({
        id: `${this.id}:${policy.name}`,
        check: this.id,
        area: this.area,
        severity: 'high',
        title: `policy ${policy.name} grants sudo on ${paths.join(', ')} but is not a break-glass policy`,
        evidence: { policy: policy.name, paths, break_glass_policies: [...allowed] },
        why: 'sudo opens root-protected endpoints (seal, rekey, raw storage, token creation without limits); it belongs only in break-glass policies used under watch',
        fix: `remove "sudo" from ${paths.map((p) => `path "${p}"`).join(', ')} in policy ${policy.name} (bao policy write ${policy.name} <file>), or list it in posture.break_glass_policies if it is one`,
      });
    }
    return findings;
  },
};
