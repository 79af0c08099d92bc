import type { AssessThresholds } from '../config/load.js';
import type {
  AnalysisEvent,
  AnalysisWindow,
  AuditAnalysisRepository,
} from '../store/repositories/audit-analysis.repository.js';
import type { RevokedAccessor, TokenEvent } from '../store/repositories/revoked-accessors.repository.js';
import type { RUNBOOKS } from '../runbooks/registry.js';
import type { SecretPathClassifier } from './secret-paths.js';
import type { SecretReads, SecretReadsReader } from './secret-reads.js';

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { low: 0, medium: 1, high: 2, critical: 3 };

/**
 * Findings at or above this severity implicate their actor: the secrets it read count as exposed.
 * `low` findings (an application's occasional failed call) are reported but implicate nobody, or one
 * stray 404 from a busy application would mark every tenant it serves as breached.
 */
export const IMPLICATING_SEVERITY: Severity = 'medium';

/** One piece of evidence: usually one audit event, or the event where an aggregate crossed its threshold. */
export interface RuleFinding {
  time: string;
  path: string | null;
  accessor: string | null;
  display_name: string | null;
  remote_address: string | null;
  request_id: string | null;
  /** The stored event behind the finding; aggregate findings without one count as one event. */
  event_id: number | null;
  /** What about this event made it suspicious, beyond the rule's explanation. */
  detail?: string;
}

export interface RuleOutcome {
  findings: RuleFinding[];
  /** Why the rule could not judge (e.g. no history before the window). */
  note?: string;
}

/** The data rules read, loaded once per assessment however many rules ask for it. */
export interface AssessData {
  window: AnalysisWindow;
  failedResponses(): Promise<AnalysisEvent[]>;
  rootTokenRequests(): Promise<AnalysisEvent[]>;
  sysWrites(): Promise<AnalysisEvent[]>;
  tokenCreations(): Promise<AnalysisEvent[]>;
  /** Successful reads of secrets in the window, per accessor and tenant. */
  secretReads(): Promise<SecretReads>;
  hasHistoryBeforeWindow(): Promise<boolean>;
  addressesFirstSeenInWindow(): Promise<{ remote_address: string; first_seen: string }[]>;
  firstRequestsFrom(addresses: readonly string[]): Promise<AnalysisEvent[]>;
  accessorIdentities(
    accessors: readonly string[],
  ): Promise<{ accessor: string; display_name: string | null; policies: string[] }[]>;
  /** Accessors containment revoked, how their calls' tokens look, and the window's calls by them. */
  revokedTokens(): Promise<{ revoked: RevokedAccessor[]; tokens: Map<string, string>; calls: TokenEvent[] }>;
}

export interface RuleContext {
  data: AssessData;
  thresholds: AssessThresholds;
  secrets: SecretPathClassifier;
}

/**
 * One newly stored audit event as live detection sees it: the columns a rule reads, the stored
 * tenant and the client token's HMAC key. `id` is null: the live stream judges rows as they are
 * stored, before anyone reads their ids back.
 */
export interface LiveEvent extends Omit<AnalysisEvent, 'id'> {
  id: number | null;
  tenant: string | null;
  client_token: string | null;
}

/** What a rule's live evaluator may know beyond the events it has seen. */
export interface LiveContext {
  thresholds: AssessThresholds;
  secrets: SecretPathClassifier;
  /** Addresses stored before live detection started; undefined when nothing was stored yet. */
  knownAddresses: ReadonlySet<string> | undefined;
  /** The tripwire's current list (refreshed by watch as containment records more). */
  revoked: RevokedTokenLookup;
}

/** Which revoked accessor, if any, made a call (by its accessor, or its client token's HMAC). */
export interface RevokedTokenLookup {
  revokedCaller(event: Pick<LiveEvent, 'accessor' | 'client_token'>): RevokedAccessor | undefined;
}

/** Evaluates a rule over events one at a time, in the order they were stored, with bounded state. */
export interface LiveEvaluator {
  observe(event: LiveEvent): RuleFinding[];
}

/** Labels that tell one live detection alert from another (Alertmanager-style fingerprint). */
export type LiveLabel = 'accessor' | 'remote_address' | 'display_name' | 'path';

/**
 * How a rule runs on the live stream (`watch`). Its findings on a stream are those `detect` gives
 * over a stored window holding the same events (a replay test compares them).
 */
export interface LiveRule {
  /** The finding fields whose values make an alert's labels (an absent value is left out). */
  readonly labels: readonly LiveLabel[];
  /** `sealwatch runbook diagnose NAME` for the on-call, or null. */
  readonly runbook: keyof typeof RUNBOOKS | null;
  start(context: LiveContext): LiveEvaluator;
}

/**
 * A detection rule: data (id, severity, explanation) plus the one query-backed check it makes
 * over a stored window, and, for the rules watch runs live, the same check over the stream.
 */
export interface SuspicionRule<Id extends string = string> {
  readonly id: Id;
  readonly severity: Severity;
  readonly explanation: string;
  detect(context: RuleContext): Promise<RuleOutcome>;
  readonly live?: LiveRule;
}

export type AnalysisReader = SecretReadsReader &
  Pick<
    AuditAnalysisRepository,
    | 'countEvents'
    | 'firstEventTime'
    | 'hasEventsBefore'
    | 'failedResponses'
    | 'rootTokenRequests'
    | 'writesUnder'
    | 'successesUnder'
    | 'readsByAccessor'
    | 'addressesFirstSeenIn'
    | 'firstRequestsFrom'
    | 'accessorActivity'
    | 'accessorIdentities'
    | 'accessorHashing'
    | 'actorsMatching'
  >;

export function findingOf(
  event: Omit<AnalysisEvent, 'id'> & { id: number | null },
  detail?: string,
): RuleFinding {
  return {
    time: event.time,
    path: event.path,
    accessor: event.accessor,
    display_name: event.display_name,
    remote_address: event.remote_address,
    request_id: event.request_id,
    event_id: event.id,
    ...(detail === undefined ? {} : { detail }),
  };
}

/** Login endpoints of every auth method: auth/<mount>/login, auth/userpass/login/<user>, … */
export function isLoginPath(path: string | null): boolean {
  return path !== null && /^auth\/.+\/login(\/|$)/.test(path);
}

export function isPermissionDenied(error: string | null): boolean {
  return error !== null && error.includes('permission denied');
}

/** Audit times carry nanoseconds; milliseconds are enough to compare and subtract. */
export function auditTimeMs(time: string): number {
  return Date.parse(time.length > 24 ? `${time.slice(0, 23)}Z` : time);
}
