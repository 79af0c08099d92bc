import type { LiveEvaluator, LiveEvent, RuleFinding, SuspicionRule } from '../rule.js';

/**
 * Tokens of one identity (display name and policies) that each read more tenants than the
 * threshold, beyond which the identity counts as an application fleet doing its normal work: a
 * mail relay whose hourly AppRole logins each read hundreds of tenants is not an intruder.
 */
export const FLEET_SIZE = 3;

/** Tokens followed live before the oldest is forgotten (each holds at most threshold+1 tenants). */
const MAX_LIVE_TOKENS = 200_000;

/** A successful read of a secret by a token, or undefined: what the rule counts tenants from. */
const isSecretRead = (event: Pick<LiveEvent, 'type' | 'operation' | 'error' | 'accessor' | 'path'>) =>
  event.type === 'response' &&
  event.operation === 'read' &&
  event.error === null &&
  event.accessor !== null &&
  event.path !== null;

const identityOf = (display: string | null, policies: readonly string[]) =>
  `${display ?? ''}|${[...policies].sort().join(',')}`;

const detailOf = (tenants: number, threshold: number) => `${tenants} tenants (threshold ${threshold})`;

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
    const identityByAccessor = new Map(
      identities.map((i) => [i.accessor, identityOf(i.display_name, i.policies)]),
    );
    const fleet = new Map<string, number>();
    for (const [accessor] of over)
      fleet.set(
        identityByAccessor.get(accessor) ?? accessor,
        (fleet.get(identityByAccessor.get(accessor) ?? accessor) ?? 0) + 1,
      );
    const findings: RuleFinding[] = [];
    const fleets = new Set<string>();
    for (const [accessor, tenants] of over) {
      const identity = identityByAccessor.get(accessor) ?? accessor;
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
        detail: detailOf(tenants, thresholds.manyTenants),
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
  live: {
    labels: ['accessor', 'display_name'],
    runbook: 'secret-leak',
    /**
     * Per token, the distinct counted tenants of its secret reads, up to the threshold: the read
     * that adds one more is the finding (the same read the stored window dates it at). A fleet is
     * known live only once FLEET_SIZE of its tokens crossed: the first FLEET_SIZE - 1 are reported
     * (a stored window that holds the whole fleet reports none; see docs/watch.md).
     */
    start: ({ thresholds, secrets }): LiveEvaluator => {
      const tokens = new Map<string, Set<string> | 'crossed'>();
      const fleets = new Map<string, number>();
      return {
        observe(event) {
          if (!isSecretRead(event)) return [];
          const secret = secrets.classify(event.path!, event);
          if (!secret.secret || secret.tenant === null || secrets.isExcluded(secret.tenant)) return [];
          const accessor = event.accessor!;
          let seen = tokens.get(accessor);
          if (seen === 'crossed') return [];
          if (!seen) {
            if (tokens.size >= MAX_LIVE_TOKENS) tokens.delete(tokens.keys().next().value!);
            tokens.set(accessor, (seen = new Set()));
          }
          seen.add(secret.tenant);
          if (seen.size <= thresholds.manyTenants) return [];
          tokens.set(accessor, 'crossed');
          const identity = identityOf(event.display_name, event.policies);
          const crossed = (fleets.get(identity) ?? 0) + 1;
          fleets.set(identity, crossed);
          if (crossed >= FLEET_SIZE) return [];
          return [
            {
              time: event.time,
              path: event.path,
              accessor,
              display_name: event.display_name,
              remote_address: event.remote_address,
              request_id: event.request_id,
              event_id: event.id,
              detail: detailOf(seen.size, thresholds.manyTenants),
            },
          ];
        },
      };
    },
  },
} as const satisfies SuspicionRule<'many-tenants'>;
