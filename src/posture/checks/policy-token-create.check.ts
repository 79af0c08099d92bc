import { buildAcl, decide } from '../../policy/acl.js';
import type { AclPolicy } from '../../policy/policy.js';
import type { PostureCheck, PostureFinding } from '../check.js';
import { gapFindings, policyFacts } from './policy-set.js';

/** Where tokens are created; a token role's path is decided on a sample role name and shown as `<role>`. */
const CREATE_PATHS = [
  { path: 'auth/token/create', shown: 'auth/token/create' },
  { path: 'auth/token/create-orphan', shown: 'auth/token/create-orphan' },
  { path: 'auth/token/create/sealwatch-probe', shown: 'auth/token/create/<role>' },
];

/**
 * Token creation (update or create on auth/token/create*) with no limit on the `policies` parameter:
 * the holder mints tokens with any of its policies, for as long as it likes; with sudo, orphans too.
 */
export const policyTokenCreateCheck: PostureCheck = {
  id: 'policy-token-create',
  area: 'policies',
  title: 'auth/token/create* without allowed_parameters limits on policies',
  async run(ctx) {
    const facts = await policyFacts(ctx);
    const findings: PostureFinding[] = gapFindings(this, facts.couldNotRead);
    for (const policy of facts.policies) {
      const acl = buildAcl([policy]);
      for (const { path, shown } of CREATE_PATHS) {
        const decision = decide(acl, path);
        if (!decision.capabilities.some((c) => c === 'update' || c === 'create')) continue;
        if (limitsPolicies(policy, decision.rule)) continue;
        const sudo = decision.capabilities.includes('sudo');
        findings.push({
          id: `${this.id}:${policy.name}:${shown}`,
          check: this.id,
          area: this.area,
          severity: sudo ? 'high' : 'medium',
          title: `policy ${policy.name} can create tokens on ${shown} (rule "${decision.rule}") with no limit on their policies${sudo ? ', and with sudo' : ''}`,
          evidence: {
            policy: policy.name,
            path: shown,
            rule: decision.rule,
            capabilities: decision.capabilities,
          },
          why: 'an unlimited token-creation grant lets one stolen credential mint long-lived tokens that survive its own revocation',
          fix: `in policy ${policy.name}: path "${decision.rule}" { capabilities = ["update"] allowed_parameters = { "policies" = ["<allowed>"] "ttl" = ["1h"] } }, or create tokens through a token role with allowed_policies`,
        });
      }
    }
    return findings;
  },
};

/**
 * Whether the deciding rule's blocks (in this policy) restrict the `policies` parameter: an allow-list
 * naming values, an allow-list without `policies` or `*` (the parameter is refused), or a deny entry.
 */
function limitsPolicies(policy: AclPolicy, rule: string | undefined): boolean {
  return policy.rules
    .filter((r) => r.path === rule)
    .some((r) => {
      const allowed = r.allowedParameters;
      if (allowed?.['policies'] !== undefined) return allowed['policies'].length > 0;
      if (allowed !== undefined && allowed['*'] === undefined) return true;
      return r.deniedParameters?.['policies'] !== undefined;
    });
}
