import { buildAcl, decide } from '../../policy/acl.js';
import { tenantPaths } from '../../policy/access-matrix.js';
import type { PathRule } from '../../policy/policy.js';
import type { PostureCheck, PostureFinding } from '../check.js';
import { gapFindings, policyFacts, WRITE_CAPABILITIES } from './policy-set.js';

/** Two tenant ids no real tenant has: a rule that grants on their paths grants on every tenant's. */
const PROBES = ['sealwatch-probe-tenant-a', 'sealwatch-probe-tenant-b'];

/** `*` and `+` rules that cover `sys/` or every tenant's secrets. */
export const policyGlobsCheck: PostureCheck = {
  id: 'policy-globs',
  area: 'policies',
  title: 'wildcard (* or +) rules over sys/ and tenant secret paths',
  async run(ctx) {
    const facts = await policyFacts(ctx);
    const findings: PostureFinding[] = gapFindings(this, facts.couldNotRead);
    for (const policy of facts.policies)
      for (const rule of policy.rules) {
        if (rule.kind === 'exact' || rule.capabilities.includes('deny')) continue;
        const writes = rule.capabilities.filter((c) => (WRITE_CAPABILITIES as readonly string[]).includes(c));
        if (coversSys(rule))
          findings.push({
            id: `${this.id}:${policy.name}:sys:${rule.path}`,
            check: this.id,
            area: this.area,
            severity: writes.length > 0 ? 'high' : 'medium',
            title: `policy ${policy.name} grants ${rule.capabilities.join(', ')} on sys/ paths through the wildcard rule "${rule.path}"`,
            evidence: {
              policy: policy.name,
              rule: rule.path,
              capabilities: rule.capabilities,
              covers: 'sys/',
            },
            why: 'a wildcard over sys/ also grants every system endpoint added later (policies, auth, audit, seal); least privilege names the endpoints',
            fix: `bao policy write ${policy.name} <file>  # replace path "${rule.path}" with exact sys/ paths`,
          });
        const alone = buildAcl([{ name: policy.name, rules: [rule] }]);
        // Covers a template for two made-up tenants: covers it for every tenant.
        const everyTenant = facts.templateMounts.some((m) =>
          PROBES.every((t) => tenantPaths(t, [m]).every((p) => decide(alone, p).rule === rule.path)),
        );
        if (everyTenant)
          findings.push({
            id: `${this.id}:${policy.name}:tenants:${rule.path}`,
            check: this.id,
            area: this.area,
            severity: writes.length > 0 ? 'high' : 'medium',
            title: `policy ${policy.name} grants ${rule.capabilities.join(', ')} on every tenant's secrets through the wildcard rule "${rule.path}"`,
            evidence: {
              policy: policy.name,
              rule: rule.path,
              capabilities: rule.capabilities,
              covers: 'tenants',
            },
            why: "a wildcard at the tenant position reaches every tenant, present and future: one stolen credential exposes all tenants' secrets",
            fix: `bao policy write ${policy.name} <file>  # name the tenant instead of "${rule.path}", or use {{identity.entity.metadata.tenant}}`,
          });
      }
    // A path written in two blocks of one policy is one finding.
    return [...new Map(findings.map((f) => [f.id, f])).values()];
  },
};

/**
 * sys/tools/ only hashes and generates random bytes: it reads and changes nothing. The built-in
 * `default` policy grants `sys/tools/hash/*`, so flagging it would raise the same alarm on every server.
 */
const HARMLESS_SYS_PREFIX = 'sys/tools/';

/** Whether the rule's pattern reaches into sys/: its literal start is sys/… or a prefix of "sys/". */
function coversSys(rule: PathRule): boolean {
  const stop = [rule.path.indexOf('*'), rule.path.indexOf('+')].filter((i) => i >= 0);
  const literal = rule.path.slice(0, Math.min(...stop));
  if (literal.startsWith(HARMLESS_SYS_PREFIX)) return false;
  return literal.startsWith('sys/') || 'sys/'.startsWith(literal);
}
