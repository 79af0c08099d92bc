import type { RuleFinding, SuspicionRule } from '../rule.js';

/**
 * Tokens of one identity (display name and policies) that each read more tenants than the
 * threshold, beyond which the identity counts as an application fleet doing its normal work: a
 * mail relay whose hourly AppRole logins each read hundreds of tenants is not an intruder.
 */
export const FLEET_SIZE = 3;

/**
 * One token reading the secrets of many tenants: what a stolen application or operator token is
 * used for. Excluded (test) tenants do not count towards the threshold. The finding is dated at
 * the first read of the tenant that crossed the threshold. A token whose identity has a fleet of
 * such readers in the window is left to the other rules (its refusals, its new address).
 */
export const manyTenantsRule = {
  id: 'many-tenants',
  severity: 'high',
  explanation: 'one actor read secrets of many tenants',
  async detect({ data, thresholds, secrets }) {
    const reads = await data.secretReads();
    const over: [string, number][] = [];
    for (const [accessor, own] of reads.byAccessor) {
      let counted = 0;
      for (const tenant of own.tenants) if (!secrets.isExcluded(tenant)) counted++;
      if (counted > thresholds.manyTenants) over.push([accessor, counted]);
    }
    const identities = await data.accessorIdentities(over.map(([accessor]) => accessor));
    const identityOf = new Map(
      identities.map((i) => [i.accessor, `${i.display_name ?? ''}|${[...i.policies].sort().join(',')}`]),
    );
    const fleet = new Map<string, number>();
    for (const [accessor] of over)
      fleet.set(
        identityOf.get(accessor) ?? accessor,
        (fleet.get(identityOf.get(accessor) ?? accessor) ?? 0) + 1,
      );
    const findings: RuleFinding[] = [];
    const fleets = new Set<string>();
    for (const [accessor, tenants] of over) {
      const identity = identityOf.get(accessor) ?? accessor;
      if ((fleet.get(identity) ?? 0) >= FLEET_SIZE) {
        fleets.add(identity);
        continue;
      }
      const crossing = (await reads.firstReads(accessor))
        .filter((read) => !secrets.isExcluded(read.tenant))
        .sort((a, b) => (a.first_read < b.first_read ? -1 : 1))[thresholds.manyTenants]!;
      findings.push({
        time: crossing.first_read,
        path: crossing.path,
        accessor,
        // Filled from the actor's activity by assess: the grouped reads carry no names.
        display_name: null,
        remote_address: null,
        request_id: null,
        event_id: null,
        detail: `${tenants} tenants (threshold ${thresholds.manyTenants})`,
      });
    }
    const note = fleets.size
      ? `many-tenants: ${[...fleets]
          .sort()
          .map((f) => `"${f.replace('|', '" with policies ')} (${fleet.get(f)} tokens)`)
          .join(
            ', ',
          )} read more than ${thresholds.manyTenants} tenants per token as a fleet and were treated as normal application work`
      : undefined;
    return note ? { findings, note } : { findings };
  },
} as const satisfies SuspicionRule<'many-tenants'>;
