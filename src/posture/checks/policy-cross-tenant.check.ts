import { tenantAccessMatrix } from '../access-matrix.js';
import type { PostureCheck, PostureFinding } from '../check.js';
import { gapFindings, policyFacts } from './policy-set.js';

/**
 * Cross-tenant access from the effective access matrix. A role is a tenant's by its name
 * (`posture.tenant_role_template`, e.g. `{tenant}-app`); a policy that lets such a role read or write
 * another tenant's secrets is high. A policy reaching several tenants that no tenant role carries is
 * low: a platform service may need it, and someone should confirm that it does.
 */
export const policyCrossTenantCheck: PostureCheck = {
  id: 'policy-cross-tenant',
  area: 'policies',
  title: "policies that let one tenant's role reach another tenant's secrets",
  async run(ctx) {
    const { config, vault } = ctx;
    if (config.tenancy.paths.length === 0)
      return [
        {
          id: `${this.id}:no-tenant-paths`,
          check: this.id,
          area: this.area,
          severity: 'medium',
          title: 'could not evaluate cross-tenant access: tenancy.paths is empty',
          evidence: {},
          why: 'without the tenant secret path templates no policy can be checked against tenant boundaries',
          fix: 'tenancy:\n  paths: ["secret/tenants/{tenant}/smtp"]   # in sealwatch.yaml, one template per secret kind',
        },
      ];
    const facts = await policyFacts(ctx);
    const matrix = await tenantAccessMatrix(
      { vault, config },
      { policySet: { policies: facts.policies, couldNotRead: facts.policyGaps } },
    );
    const findings: PostureFinding[] = gapFindings(this, matrix.could_not_read);
    for (const p of matrix.policies) {
      if (!p.cross_tenant) continue;
      const reached = [...new Set([...p.tenants.read, ...p.tenants.write])].sort();
      const tenantRoles = p.roles.filter((r) => r.tenant !== undefined);
      for (const role of tenantRoles) {
        const others = reached.filter((t) => t !== role.tenant);
        if (others.length === 0) continue;
        findings.push({
          id: `${this.id}:${p.policy}:${role.mount}/${role.role}`,
          check: this.id,
          area: this.area,
          severity: 'high',
          title: `role ${role.mount}/${role.role} (tenant ${role.tenant} by posture.tenant_role_template) can reach tenant(s) ${others.join(', ')} through policy ${p.policy}`,
          evidence: {
            policy: p.policy,
            role: role.role,
            mount: role.mount,
            role_tenant: role.tenant,
            read: p.tenants.read.filter((t) => t !== role.tenant),
            write: p.tenants.write.filter((t) => t !== role.tenant),
          },
          why: "one tenant's credential that reads another tenant's secrets breaks the isolation a multi-tenant platform promises; a breach of one tenant becomes a breach of several",
          fix: `narrow policy ${p.policy} to tenant ${role.tenant}'s paths (or give the role a policy of its own)`,
        });
      }
      if (tenantRoles.length === 0 && reached.length > 1)
        findings.push({
          id: `${this.id}:${p.policy}`,
          check: this.id,
          area: this.area,
          severity: 'low',
          title: `policy ${p.policy} reaches ${reached.length} tenants' secrets`,
          evidence: { policy: p.policy, roles: p.roles, read: p.tenants.read, write: p.tenants.write },
          why: 'a policy over several tenants is right only for a platform service; any other holder can read across tenants',
          fix: `confirm that every holder of ${p.policy} is a platform service; otherwise split it per tenant (sealwatch posture access shows who carries it)`,
        });
    }
    return findings;
  },
};
