import { buildAcl, decide } from '../../policy/acl.js';
import type { PostureCheck, PostureFinding } from '../check.js';
import { gapFindings, policyFacts } from './policy-set.js';

/** Sudo alone writes nothing on these endpoints: it is policy-sudo's finding. */
const WRITES = ['create', 'update', 'patch', 'delete'];

/** The control-plane endpoints whose write turns a token into an administrator, each with a path to probe. */
const ADMIN_AREAS = [
  {
    area: 'sys/policies/*',
    probe: 'sys/policies/acl/sealwatch-probe',
    why: 'rewrite any policy, its own included',
  },
  {
    area: 'sys/auth/*',
    probe: 'sys/auth/sealwatch-probe',
    why: 'enable or disable auth methods (disabling deletes every role)',
  },
  {
    area: 'sys/audit*',
    probe: 'sys/audit/sealwatch-probe',
    why: 'disable the audit devices that would record the abuse',
  },
  {
    area: 'sys/mounts/*',
    probe: 'sys/mounts/sealwatch-probe',
    why: 'mount, remount or disable secret engines',
  },
] as const;

/** Write (create, update, patch, delete) on sys/policies/*, sys/auth/*, sys/audit*, sys/mounts/*, as the server decides it. */
export const policyAdminWriteCheck: PostureCheck = {
  id: 'policy-admin-write',
  area: 'policies',
  title: 'write on sys/policies/*, sys/auth/*, sys/audit*, sys/mounts/*',
  async run(ctx) {
    const facts = await policyFacts(ctx);
    const breakGlass = new Set(ctx.config.posture.breakGlassPolicies);
    const findings: PostureFinding[] = gapFindings(this, facts.couldNotRead);
    for (const policy of facts.policies) {
      if (breakGlass.has(policy.name)) continue;
      const acl = buildAcl([policy]);
      for (const admin of ADMIN_AREAS) {
        const decision = decide(acl, admin.probe);
        const writes = decision.capabilities.filter((c) => WRITES.includes(c));
        if (writes.length === 0) continue;
        findings.push({
          id: `${this.id}:${policy.name}:${admin.area}`,
          check: this.id,
          area: this.area,
          severity: 'high',
          title: `policy ${policy.name} grants ${writes.join(', ')} on ${admin.area} (rule "${decision.rule}")`,
          evidence: { policy: policy.name, endpoint: admin.area, rule: decision.rule, capabilities: writes },
          why: `a token with this policy can ${admin.why}: that is administrator power, for break-glass policies only`,
          fix: `in policy ${policy.name}, reduce path "${decision.rule}" to read/list, or add path "${admin.area}" { capabilities = ["deny"] }; bao policy write ${policy.name} <file>`,
        });
      }
    }
    return findings;
  },
};
