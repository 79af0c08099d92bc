import type { Config } from '../config/load.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import {
  countRefusals,
  type AnalysisEvent,
  type AnalysisWindow,
} from '../store/repositories/audit-analysis.repository.js';
import {
  IMPLICATING_SEVERITY,
  SEVERITY_RANK,
  type AnalysisReader,
  type AssessData,
  type RuleFinding,
  type Severity,
} from './rule.js';
import { RULE_LIST, type RuleId } from './rules/index.js';
import type { RevokedAccessorRepository } from '../store/repositories/revoked-accessors.repository.js';
import type { CouldNotRead } from '../policy/access-matrix.js';
import { couldNotReadNote, type CouldReadEvaluator } from './could-read.js';
import { SecretPathClassifier } from './secret-paths.js';
import { loadSecretReads, type SecretReadCount } from './secret-reads.js';
import type { AssessScope } from '../config/suspect.js';
import {
  localSelector,
  matchSuspects,
  parseSuspects,
  type ResolvedSuspect,
  type SuspectMatch,
} from './suspects.js';

export type { SuspectMatch };

export type { SecretReadCount };

/**
 * Paths OpenBao never writes to an audit device. An assessment that finds none of them has not
 * shown they did not happen; it says so.
 */
export const NOT_AUDITED: readonly string[] = [
  'sys/seal, sys/unseal and sys/step-down: sealing, unsealing and leader step-down leave no audit entry',
  'sys/init: initialisation (and the root token and key shares it returns) is not audited',
  'sys/health, sys/seal-status, sys/leader: unauthenticated status reads are not audited',
  'sys/rekey/* and sys/generate-root/* (unauthenticated variants): key-share submissions are not audited',
  'sys/storage/raft/join and raft bootstrap: nodes joining the cluster are not audited',
  'sys/metrics when read without a token is not audited',
];

export interface AssessRequest {
  /** Start of the window (inclusive). */
  since: Date;
  /** End of the window (inclusive); now when absent. */
  until?: Date;
  /** Most suspicious events listed (all are counted). Default 1000. */
  limit?: number;
  /** What the responder knows (src/assess/suspects.ts): every actor they match is implicated. */
  suspects?: readonly ResolvedSuspect[];
  /** Which tenants are affected (see `AssessScope`). Default `implicated`. */
  scope?: AssessScope;
  /**
   * The responder's own token's accessor (raw and as each audit device HMACs it): never a reader
   * that counts. Asked only when someone read a secret in the window.
   */
  responderAccessors?: () => Promise<{ accessors: readonly string[]; note: string | null }>;
  /** Notes from preparing the request (what could not be looked up), listed first. */
  notes?: readonly string[];
}

export { ASSESS_SCOPES, type AssessScope } from '../config/suspect.js';

export const SUSPECT_REASON = 'named as suspect by the responder';

export interface AssessDeps {
  analysis: AnalysisReader;
  config: Pick<Config, 'tenancy' | 'assess'>;
  logger: Logger;
  now?: () => Date;
  /** Every counted tenant of the tenancy source: what `--scope all` affects. */
  allTenants?: () => Promise<string[]>;
  /**
   * What implicated actors' policies let them read (src/assess/could-read.ts). Without it (no
   * Vault token) nothing is at risk by policy, and a note says it was not evaluated.
   */
  couldRead?: CouldReadEvaluator;
  /**
   * The tripwire's records (store.revokedAccessors): accessors containment revoked. Every CLI and
   * playbook caller passes it; without it no accessor counts as revoked.
   */
  revoked?: Pick<RevokedAccessorRepository, 'list' | 'tokensOf' | 'candidates'>;
}

export interface SuspiciousEvent {
  time: string;
  rule: RuleId;
  severity: Severity;
  explanation: string;
  path: string | null;
  accessor: string | null;
  display_name: string | null;
  remote_address: string | null;
  request_id: string | null;
}

export interface RuleSummary {
  id: RuleId;
  severity: Severity;
  explanation: string;
  events: number;
}

export interface BreachActor {
  /** `accessor:<accessor>`, or `address:<ip>` for unauthenticated calls (failed logins). */
  actor: string;
  display_name: string | null;
  accessor: string | null;
  remote_addresses: string[];
  /** Successful secret reads in the window. */
  reads: number;
  /** Calls refused by policy in the window. */
  denied: number;
  /** Counted tenants whose secrets it read (excluded tenants left out). */
  tenants: string[];
  /**
   * Counted tenants whose secrets its policies (as the audit log recorded them) let it read,
   * whether it read them or not; null when not evaluated (no Vault token, no policies on record).
   */
  could_read: string[] | null;
  /** The policies its token carried, as the audit log recorded them. */
  policies: string[];
  first_seen: string;
  last_seen: string;
  rules: RuleId[];
  /** Suspects (as given) that matched it: then it is implicated, "named as suspect by the responder". */
  suspects: string[];
  /** Why it is implicated: rules of severity medium or above and/or the suspect reason. */
  reasons: string[];
}

export interface BreachAssessment {
  /** Time of the first finding that implicates an actor (severity medium or above), or null. */
  breach_detected_at: string | null;
  window: { since: string; until: string };
  events_examined: number;
  /**
   * Why nothing could be assessed (no audit event stored in the window), or null. When set, every
   * count below is zero because nothing was looked at, not because nothing happened.
   */
  could_not_assess: string | null;
  /**
   * When the stored audit data starts, if that is after `window.since` (nothing stored before the
   * window, and its first event later): the part of the window before it was not looked at. Null
   * when the data covers the start of the window, or when there is none (see `could_not_assess`).
   */
  data_since: string | null;
  /** Distinct events at least one rule flagged (an aggregate finding counts as one). */
  suspicious_events: number;
  suspicious: SuspiciousEvent[];
  /** True when `suspicious` lists fewer entries than there are findings (see --limit). */
  suspicious_truncated: boolean;
  rules: RuleSummary[];
  /** Distinct secret paths read successfully by implicated actors. */
  accessed_secrets: number;
  secrets: SecretReadCount[];
  /** Tenants whose secrets an implicated actor read successfully; excluded tenants never appear. */
  affected_tenants: string[];
  /**
   * At risk: counted tenants an implicated actor's (or a role suspect's) policies let it read but no
   * read of which is on record in the window — it may have read them before the window or through a
   * device that was not ingested. Never in `affected_tenants` too.
   */
  at_risk_tenants: string[];
  /** What each role suspect's role lets a token read (its token_policies, read from Vault). */
  suspect_reach: { suspect: string; policies: string[] | null; could_read: string[] | null }[];
  /** How `affected_tenants` was decided (--scope). */
  scope: AssessScope;
  /** Each suspect the responder named, with what it matched. */
  suspects: SuspectMatch[];
  /**
   * Everyone who read a counted tenant's secret in the window, but the responder's token and
   * `assess.allow_actors`: the readers `--scope conservative` counts.
   */
  secret_readers: { actors: number; tenants: number };
  /** Successful secret reads in the window by anyone: 0 means no secret was read in it. */
  window_secret_reads: number;
  /**
   * Set when the implicated scope is empty although secrets were read in the window: one line
   * naming the readers and tenants and the flags that decide (--suspect, --scope). Null otherwise.
   */
  scope_decision: string | null;
  /** Excluded (test) tenants that implicated actors read: reported, never counted. */
  excluded_tenants_read: string[];
  breach_scope: 'limited' | 'widespread';
  widespread_threshold: number;
  actors: BreachActor[];
  /** Whether the stored accessors are HMAC'd (hmac_accessor on the device): then they cannot be revoked by value. */
  accessors_hmac: 'all' | 'none' | 'some' | 'no-data';
  not_audited: readonly string[];
  notes: string[];
}

interface RuleHit extends RuleFinding {
  rule: RuleId;
  severity: Severity;
  explanation: string;
}

/**
 * Assesses a breach from the stored audit events: which rules fire, who the suspicious actors are,
 * which secrets they read and so which tenants are affected. Replaces the reference runbook's
 * `assessVaultBreach`, whose string matching found nothing in a real audit log (there is no
 * "unauthorized" event, no severity field and no `secret_read` event) and whose tenant ids came from
 * `path.split('/')[1]` (the mount's `data` segment on KV v2).
 *
 * Affected means: a tenant whose secret (a path of a configured tenant template, read successfully)
 * was read by an actor that at least one rule of severity medium or above flagged in the window.
 * Secrets that the same actors only tried to read (refused) do not make a tenant affected.
 */
export async function assess(request: AssessRequest, deps: AssessDeps): Promise<BreachAssessment> {
  const until = request.until ?? (deps.now ?? (() => new Date()))();
  if (Number.isNaN(request.since.getTime()) || Number.isNaN(until.getTime()))
    throw new UsageError('assess: the window needs valid --since and --until times');
  if (request.since > until)
    throw new UsageError(
      `assess: --since ${request.since.toISOString()} is after --until ${until.toISOString()}`,
    );
  const window: AnalysisWindow = { since: toAuditTime(request.since), until: toAuditTime(until) };
  const started = performance.now();
  const { analysis, config } = deps;
  const historyBefore = analysis.hasEventsBefore(window.since);
  const [eventsExamined, firstEvent, hasHistory] = await Promise.all([
    analysis.countEvents(window),
    analysis.firstEventTime(window),
    historyBefore,
  ]);
  const coverage = describeCoverage(request.since, until, hasHistory ? null : firstEvent, eventsExamined);
  const secrets = new SecretPathClassifier(config.tenancy.paths, config.tenancy.exclude);
  const data = loadOnce(analysis, window, secrets, historyBefore, deps.revoked);

  const notes: string[] = [...(request.notes ?? []), ...(coverage.note ? [coverage.note] : [])];
  const hits: RuleHit[] = [];
  const outcomes = await Promise.all(
    RULE_LIST.map(async (rule) => ({
      rule,
      outcome: await rule.detect({ data, thresholds: config.assess, secrets }),
    })),
  );
  for (const { rule, outcome } of outcomes) {
    if (outcome.note) notes.push(outcome.note);
    // Built field by field: spreading findings of several shapes (with and without `detail`) is
    // V8's slow path, and a busy day has tens of thousands of them.
    for (const f of outcome.findings)
      hits.push({
        time: f.time,
        path: f.path,
        accessor: f.accessor,
        display_name: f.display_name,
        remote_address: f.remote_address,
        request_id: f.request_id,
        event_id: f.event_id,
        detail: f.detail,
        rule: rule.id,
        severity: rule.severity,
        explanation: rule.explanation,
      });
  }
  hits.sort((a, b) =>
    a.time < b.time ? -1 : a.time > b.time ? 1 : SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity],
  );

  const implicating = hits.filter((h) => SEVERITY_RANK[h.severity] >= SEVERITY_RANK[IMPLICATING_SEVERITY]);
  const actorRules = new Map<string, Set<RuleId>>();
  for (const hit of hits) {
    const key = actorKey(hit);
    actorRules.set(key, (actorRules.get(key) ?? new Set()).add(hit.rule));
  }
  const implicatedKeys = new Set(implicating.map(actorKey));
  const ruleImplicated = new Set(implicatedKeys);
  const suspectMatches = await matchSuspects(analysis, window, request.suspects ?? []);
  const suspectsOf = new Map<string, string[]>();
  for (const match of suspectMatches)
    for (const key of match.matched_actors) {
      implicatedKeys.add(key);
      suspectsOf.set(key, [...(suspectsOf.get(key) ?? []), match.suspect]);
    }
  const suspectNotes = suspectMatches
    .filter((m) => m.matched_events === 0)
    .map((m) => `suspect ${m.suspect} matched no audit event in the window: the id may be wrong`);
  notes.push(...suspectNotes);
  const implicatedAccessors = [...implicatedKeys].flatMap((k) =>
    k.startsWith('accessor:') ? [k.slice(9)] : [],
  );

  const implicatedAccessorSet = new Set(implicatedAccessors);
  const [accessorsHmac, activity, reads, secretPaths] = await Promise.all([
    analysis.accessorHashing(window),
    implicatedAccessors.length
      ? // The rules loaded every failed response already: refusals are counted from those.
        data
          .failedResponses()
          .then((failed) => analysis.accessorActivity(window, implicatedAccessors, countRefusals(failed)))
      : Promise.resolve([]),
    data.secretReads(),
    data.secretReads().then((r) => r.pathsReadBy(implicatedAccessorSet)),
  ]);

  const activityByAccessor = new Map(activity.map((a) => [a.accessor, a]));
  for (const hit of hits) {
    const known = hit.accessor === null ? undefined : activityByAccessor.get(hit.accessor);
    if (!known) continue;
    hit.display_name ??= known.display_name;
    hit.remote_address ??= known.first_address;
  }

  // Secrets and tenants of implicated actors, classified with the templates configured now.
  const tenantsByAccessor = new Map<string, string[]>();
  const affected = new Set<string>();
  const excludedRead = new Set<string>();
  for (const accessor of implicatedAccessors) {
    const own = reads.byAccessor.get(accessor);
    if (!own) continue;
    const counted: string[] = [];
    for (const tenant of own.tenants) {
      if (secrets.isExcluded(tenant)) excludedRead.add(tenant);
      else {
        counted.push(tenant);
        affected.add(tenant);
      }
    }
    tenantsByAccessor.set(accessor, counted);
  }

  const actors: BreachActor[] = [];
  const reasonsOf = (key: string) => [
    ...(ruleImplicated.has(key) ? [`rules: ${sortRules(actorRules.get(key)).join(', ')}`] : []),
    ...(suspectsOf.has(key) ? [SUSPECT_REASON] : []),
  ];
  for (const row of activity) {
    const key = `accessor:${row.accessor}`;
    actors.push({
      actor: key,
      display_name: row.display_name,
      accessor: row.accessor,
      remote_addresses: row.remote_addresses,
      reads: reads.byAccessor.get(row.accessor)?.reads ?? 0,
      denied: row.denied,
      tenants: (tenantsByAccessor.get(row.accessor) ?? []).sort(),
      could_read: null,
      policies: [],
      first_seen: row.first_seen,
      last_seen: row.last_seen,
      rules: sortRules(actorRules.get(key)),
      suspects: suspectsOf.get(key) ?? [],
      reasons: reasonsOf(key),
    });
  }
  for (const key of implicatedKeys) {
    if (key.startsWith('accessor:')) continue;
    // Unauthenticated actors (failed logins) are known only by their findings.
    const own = hits.filter((h) => actorKey(h) === key);
    actors.push({
      actor: key,
      display_name: null,
      accessor: null,
      remote_addresses: [...new Set(own.flatMap((h) => (h.remote_address ? [h.remote_address] : [])))].sort(),
      reads: 0,
      denied: own.filter((h) => h.rule === 'permission-denied').length,
      tenants: [],
      could_read: null,
      policies: [],
      first_seen: own[0]?.time ?? '',
      last_seen: own[own.length - 1]?.time ?? '',
      rules: sortRules(actorRules.get(key)),
      suspects: suspectsOf.get(key) ?? [],
      reasons: reasonsOf(key),
    });
  }
  actors.sort(
    (a, b) =>
      b.tenants.length - a.tenants.length || b.reads - a.reads || a.first_seen.localeCompare(b.first_seen),
  );

  const eventIds = new Set<number>();
  let aggregates = 0;
  for (const hit of hits) {
    if (hit.event_id === null) aggregates++;
    else eventIds.add(hit.event_id);
  }
  const limit = request.limit ?? 1000;
  const scope = request.scope ?? 'implicated';
  const responder =
    reads.byAccessor.size && request.responderAccessors
      ? await request.responderAccessors()
      : { accessors: [], note: null };
  if (responder.note) notes.push(responder.note);
  const readers = await secretReaders(reads.byAccessor, responder.accessors, {
    analysis,
    window,
    allowActors: config.assess.allowActors,
    isExcluded: (tenant) => secrets.isExcluded(tenant),
  });
  let scopedSecrets = secretPaths;
  if (scope === 'conservative') {
    for (const tenant of readers.tenants) affected.add(tenant);
    scopedSecrets = await reads.pathsReadBy(new Set([...readers.accessors, ...implicatedAccessorSet]));
  } else if (scope === 'all') {
    if (!deps.allTenants)
      throw new UsageError('assess --scope all needs the tenancy source (tenancy.source in the config)');
    for (const tenant of await deps.allTenants()) if (!secrets.isExcluded(tenant)) affected.add(tenant);
  }
  const affectedTenants = [...affected].sort();
  const { atRisk, suspectReach } = await couldReadOf(actors, request.suspects ?? [], {
    analysis,
    couldRead: deps.couldRead,
    affected,
    isExcluded: (tenant) => secrets.isExcluded(tenant),
    responder: new Set(responder.accessors),
    notes,
  });
  let windowReads = 0;
  for (const own of reads.byAccessor.values()) windowReads += own.reads;
  const scopeDecision =
    scope === 'implicated' && affectedTenants.length === 0 && readers.tenants.size > 0
      ? `no actor a rule or a suspect implicates read a tenant secret, but ${readers.accessors.size} actor(s) read secrets of ${readers.tenants.size} tenant(s) in the window: name the leaked credential with --suspect KIND:VALUE, or widen the scope with --scope conservative|all`
      : null;
  if (accessorsHmac === 'all' || accessorsHmac === 'some')
    notes.push(
      'accessors are HMAC\'d in the audit log (hmac_accessor is on): hash a known accessor through sys/audit-hash to match it, or set hmac_accessor = "false" on the device',
    );
  const result: BreachAssessment = {
    breach_detected_at: implicating[0]?.time ?? null,
    window: { since: request.since.toISOString(), until: until.toISOString() },
    events_examined: eventsExamined,
    could_not_assess: coverage.couldNotAssess,
    data_since: coverage.dataSince,
    suspicious_events: eventIds.size + aggregates,
    suspicious: hits.slice(0, limit).map((h) => ({
      time: h.time,
      rule: h.rule,
      severity: h.severity,
      explanation: h.detail ? `${h.explanation}: ${h.detail}` : h.explanation,
      path: h.path,
      accessor: h.accessor,
      display_name: h.display_name,
      remote_address: h.remote_address,
      request_id: h.request_id,
    })),
    suspicious_truncated: hits.length > limit,
    rules: RULE_LIST.map((rule) => ({
      id: rule.id,
      severity: rule.severity,
      explanation: rule.explanation,
      events: hits.filter((h) => h.rule === rule.id).length,
    })),
    accessed_secrets: scopedSecrets.length,
    secrets: scopedSecrets,
    affected_tenants: affectedTenants,
    at_risk_tenants: atRisk,
    suspect_reach: suspectReach,
    scope,
    suspects: suspectMatches,
    secret_readers: { actors: readers.accessors.size, tenants: readers.tenants.size },
    window_secret_reads: windowReads,
    scope_decision: scopeDecision,
    excluded_tenants_read: [...excludedRead].sort(),
    breach_scope: affectedTenants.length > config.tenancy.widespreadThreshold ? 'widespread' : 'limited',
    widespread_threshold: config.tenancy.widespreadThreshold,
    actors,
    accessors_hmac: accessorsHmac,
    not_audited: NOT_AUDITED,
    notes,
  };
  deps.logger.info(
    {
      window,
      events: eventsExamined,
      suspicious: result.suspicious_events,
      affected: affectedTenants.length,
      ms: Math.round(performance.now() - started),
    },
    'breach assessed',
  );
  return result;
}

/**
 * Could-read beside did-read: each accessor actor's policies (from its audit events) evaluated over
 * the tenancy, and each role suspect's role policies (from Vault). Fills `could_read` and
 * `policies` on the actors; returns the at-risk tenants (could read, no read on record, counted).
 */
async function couldReadOf(
  actors: BreachActor[],
  suspects: readonly ResolvedSuspect[],
  context: {
    analysis: AnalysisReader;
    couldRead: CouldReadEvaluator | undefined;
    affected: ReadonlySet<string>;
    isExcluded: (tenant: string) => boolean;
    /** The responder's own token (raw and HMAC'd): what it can read is not a breach's reach. */
    responder: ReadonlySet<string>;
    notes: string[];
  },
): Promise<{ atRisk: string[]; suspectReach: BreachAssessment['suspect_reach'] }> {
  const roleSuspects = suspects.filter((s) => s.suspect.kind === 'role');
  const withAccessor = actors.filter((a) => a.accessor !== null);
  if (!withAccessor.length && !roleSuspects.length) return { atRisk: [], suspectReach: [] };
  const identities = withAccessor.length
    ? await context.analysis.accessorIdentities(withAccessor.map((a) => a.accessor!))
    : [];
  const policiesOf = new Map(identities.map((i) => [i.accessor, i.policies]));
  for (const actor of withAccessor) actor.policies = [...(policiesOf.get(actor.accessor!) ?? [])].sort();
  const { couldRead } = context;
  if (!couldRead) {
    context.notes.push(
      'could-read not evaluated (no Vault token to read the policies with): at_risk_tenants lists nothing, which is not "none at risk"',
    );
    return {
      atRisk: [],
      suspectReach: roleSuspects.map((s) => ({ suspect: s.suspect.text, policies: null, could_read: null })),
    };
  }
  const reachable = new Set<string>();
  const unread = new Map<string, string>();
  const noteAll = (entries: readonly CouldNotRead[], about: string) => {
    for (const entry of entries)
      unread.set(`${entry.path}|${entry.capability}`, couldNotReadNote(entry, about));
  };
  for (const actor of withAccessor) {
    if (!actor.policies.length) continue;
    if (context.responder.has(actor.accessor!)) {
      context.notes.push(
        `${actor.actor} is this token (the responder's own): its could-read is not counted as at risk`,
      );
      continue;
    }
    const reach = await couldRead.reach(actor.policies);
    actor.could_read = reach.read.filter((t) => !context.isExcluded(t));
    for (const tenant of actor.could_read) reachable.add(tenant);
    noteAll(reach.couldNotRead, 'could-read is a lower bound');
  }
  const suspectReach: BreachAssessment['suspect_reach'] = [];
  for (const { suspect } of roleSuspects) {
    const cut = suspect.value.lastIndexOf('/');
    const role = await couldRead.rolePolicies(suspect.value.slice(0, cut), suspect.value.slice(cut + 1));
    noteAll(role.couldNotRead, `what suspect ${suspect.text} could read is not known`);
    if (role.policies === null) {
      suspectReach.push({ suspect: suspect.text, policies: null, could_read: null });
      continue;
    }
    // The server adds `default` to a role's tokens unless told not to; it grants no tenant secret as shipped, and is evaluated anyway.
    const policies = [...new Set([...role.policies, 'default'])].sort();
    const reach = await couldRead.reach(policies);
    noteAll(reach.couldNotRead, 'could-read is a lower bound');
    const counted = reach.read.filter((t) => !context.isExcluded(t));
    for (const tenant of counted) reachable.add(tenant);
    suspectReach.push({ suspect: suspect.text, policies, could_read: counted });
  }
  context.notes.push(...unread.values());
  return { atRisk: [...reachable].filter((t) => !context.affected.has(t)).sort(), suspectReach };
}

/**
 * What the stored events cover of the window: nothing (the assessment could not look), or only its
 * later part (the log starts after `since`: nothing before its first event was looked at).
 * `firstEvent` is the window's first stored event when nothing is stored before the window.
 */
function describeCoverage(
  since: Date,
  until: Date,
  firstEvent: string | null,
  events: number,
): { couldNotAssess: string | null; dataSince: string | null; note: string | null } {
  if (events === 0)
    return {
      couldNotAssess:
        `no audit events stored between ${since.toISOString()} and ${until.toISOString()}: ingest the audit log first — ` +
        'sealwatch audit ingest FILE, or audit follow / listen',
      dataSince: null,
      note: null,
    };
  const from = firstEvent === null ? null : fromAuditTime(firstEvent);
  // An audit log has no event at every instant: a first event within the window's first second is coverage.
  if (from === null || Date.parse(from) - since.getTime() < 1000)
    return { couldNotAssess: null, dataSince: null, note: null };
  return {
    couldNotAssess: null,
    dataSince: from,
    note:
      `audit events are stored only from ${from} (the window starts at ${since.toISOString()}): nothing before ${from} was looked at — ` +
      'ingest the earlier audit log (sealwatch audit ingest FILE) to cover it',
  };
}

/** An audit time as an ISO-8601 time to the millisecond, the form the window is given in. */
function fromAuditTime(time: string): string {
  const parsed = Date.parse(time);
  return Number.isNaN(parsed) ? time : new Date(parsed).toISOString();
}

/** Audit times as stored: ISO-8601 UTC with nine fraction digits, so text order is time order. */
export function toAuditTime(date: Date): string {
  return date.toISOString().replace(/Z$/, '000000Z');
}

/**
 * The accessors that read a counted tenant's secret in the window and the tenants they read, but
 * the responder's own token and the actors of `assess.allow_actors` (matched like suspects).
 */
async function secretReaders(
  byAccessor: ReadonlyMap<string, { reads: number; tenants: ReadonlySet<string> }>,
  responder: readonly string[],
  context: {
    analysis: AnalysisReader;
    window: AnalysisWindow;
    allowActors: readonly string[];
    isExcluded: (tenant: string) => boolean;
  },
): Promise<{ accessors: Set<string>; tenants: Set<string> }> {
  const left = new Set(responder);
  if (context.allowActors.length) {
    // The config schema allows display-name and role entries only: each has a local selector.
    for (const entry of parseSuspects(context.allowActors)) {
      const selector = localSelector(entry);
      if (!selector) continue;
      for (const row of await context.analysis.actorsMatching(context.window, selector))
        if (row.accessor !== null) left.add(row.accessor);
    }
  }
  const accessors = new Set<string>();
  const tenants = new Set<string>();
  for (const [accessor, own] of byAccessor) {
    if (left.has(accessor)) continue;
    const counted = [...own.tenants].filter((t) => !context.isExcluded(t));
    if (counted.length === 0) continue;
    accessors.add(accessor);
    for (const tenant of counted) tenants.add(tenant);
  }
  return { accessors, tenants };
}

function actorKey(finding: RuleFinding): string {
  if (finding.accessor) return `accessor:${finding.accessor}`;
  return `address:${finding.remote_address ?? 'unknown'}`;
}

function sortRules(rules: Set<RuleId> | undefined): RuleId[] {
  const order = RULE_LIST.map((r) => r.id);
  return [...(rules ?? [])].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

/** The shared data of one assessment: each query runs at most once, whichever rules ask. */
function loadOnce(
  analysis: AnalysisReader,
  window: AnalysisWindow,
  secrets: SecretPathClassifier,
  historyBefore: Promise<boolean>,
  revoked: AssessDeps['revoked'],
): AssessData {
  const memo = <T>(load: () => Promise<T>): (() => Promise<T>) => {
    let promise: Promise<T> | undefined;
    return () => (promise ??= load());
  };
  return {
    window,
    failedResponses: memo(() => analysis.failedResponses(window)),
    rootTokenRequests: memo(() => analysis.rootTokenRequests(window)),
    sysWrites: memo(() => analysis.writesUnder(window, 'sys/')),
    tokenCreations: memo(() => analysis.successesUnder(window, 'auth/token/create')),
    secretReads: memo(() => loadSecretReads(analysis, window, secrets)),
    hasHistoryBeforeWindow: () => historyBefore,
    addressesFirstSeenInWindow: memo(() => analysis.addressesFirstSeenIn(window)),
    accessorIdentities: (accessors) =>
      accessors.length ? analysis.accessorIdentities(accessors) : Promise.resolve([]),
    firstRequestsFrom: (addresses: readonly string[]): Promise<AnalysisEvent[]> =>
      addresses.length ? analysis.firstRequestsFrom(window, addresses) : Promise.resolve([]),
    revokedTokens: memo(async () => {
      const list = (await revoked?.list()) ?? [];
      if (!revoked || list.length === 0)
        return { revoked: list, tokens: new Map<string, string>(), calls: [] };
      const accessors = list.map((r) => r.accessor);
      const tokens = new Map((await revoked.tokensOf(accessors)).map((t) => [t.client_token, t.accessor]));
      const since = list.reduce((min, r) => (r.revoked_at < min ? r.revoked_at : min), list[0]!.revoked_at);
      const calls = await revoked.candidates(window, since, accessors, [...tokens.keys()]);
      return { revoked: list, tokens, calls };
    }),
  };
}
