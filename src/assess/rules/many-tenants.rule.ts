import type { PathReads } from '../../store/repositories/audit-analysis.repository.js';
import type { RuleFinding, SuspicionRule } from '../rule.js';

/**
 * One token reading the secrets of many tenants: what a stolen application or operator token is
 * used for. Excluded (test) tenants do not count towards the threshold. The finding is dated at
 * the first read of the tenant that crossed the threshold.
 */
export const manyTenantsRule = {
  id: 'many-tenants',
  severity: 'high',
  explanation: 'one actor read secrets of many tenants',
  async detect({ data, thresholds, secrets }) {
    const firstReadByTenant = new Map<string, Map<string, PathReads>>();
    for (const read of await data.reads()) {
      const secret = secrets.classify(read.path, read);
      if (!secret.secret || secret.tenant === null || secret.excluded) continue;
      const tenants = firstReadByTenant.get(read.accessor) ?? new Map<string, PathReads>();
      const earlier = tenants.get(secret.tenant);
      if (!earlier || read.first_read < earlier.first_read) tenants.set(secret.tenant, read);
      firstReadByTenant.set(read.accessor, tenants);
    }
    const findings: RuleFinding[] = [];
    for (const [accessor, tenants] of firstReadByTenant) {
      if (tenants.size <= thresholds.manyTenants) continue;
      const crossing = [...tenants.values()].sort((a, b) => (a.first_read < b.first_read ? -1 : 1))[thresholds.manyTenants]!;
      findings.push({
        time: crossing.first_read,
        path: crossing.path,
        accessor,
        display_name: crossing.display_name,
        remote_address: crossing.remote_address,
        request_id: null,
        event_id: null,
        detail: `${tenants.size} tenants (threshold ${thresholds.manyTenants})`,
      });
    }
    return { findings };
  },
} as const satisfies SuspicionRule<'many-tenants'>;
