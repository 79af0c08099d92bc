import { SealwatchError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type {
  AnalysisEvent,
  AuditAnalysisRepository,
} from '../store/repositories/audit-analysis.repository.js';
import type { VaultClient } from '../vault/client.js';
import { matchSuspects, type ResolvedSuspect, type SuspectMatch } from '../assess/suspects.js';

export class LeakTraceError extends SealwatchError {
  constructor(message: string, options: ConstructorParameters<typeof SealwatchError>[2] = {}) {
    super('leak_trace_failed', message, options);
  }
}

export interface LeakTraceDeps {
  vault: Pick<VaultClient, 'listAuditDevices' | 'auditHash'>;
  analysis: Pick<AuditAnalysisRepository, 'eventsCarryingHashes' | 'actorsMatching'>;
  logger: Logger;
}

export interface LeakEvent {
  time: string;
  /** `request`: the caller sent it (a write, a login, the token used); `response`: Vault handed it out. */
  type: string;
  operation: string | null;
  path: string | null;
  display_name: string | null;
  remote_address: string | null;
  accessor: string | null;
  /** The suspects (as given) whose matched actors include this event's token. */
  suspects: string[];
}

export interface LeakTrace {
  /** sys/audit-hash calls made: one per enabled audit device (each device has its own HMAC key). */
  hash_lookups: number;
  events: LeakEvent[];
  /** Each suspect the responder named, with what it matched in the whole store. */
  suspects: SuspectMatch[];
}

/** A leak can be anywhere in time: suspects are matched against everything stored. */
const EVERYTHING = { since: '0000-01-01T00:00:00.000000000Z', until: '9999-12-31T23:59:59.999999999Z' };

/**
 * Finds every stored audit event that carried a leaked value or token. Audit devices never log
 * them in clear, only as HMACs keyed per device, so the value is hashed by each enabled device
 * (sys/audit-hash/<device>) and the store searched for those hashes.
 *
 * One event per call: when the request carried it (a write of the value, a call made with the
 * token), the request event; when only the response did (a read returning the value, the login
 * that issued the token), the response event, since a response entry repeats its request.
 *
 * The value is a parameter and nothing else: never logged, stored, or put in an error.
 */
export async function traceLeak(
  value: string,
  deps: LeakTraceDeps,
  suspects: readonly ResolvedSuspect[] = [],
): Promise<LeakTrace> {
  if (value === '') throw new LeakTraceError('the leaked value is empty: nothing to trace');
  const devices = await deps.vault.listAuditDevices();
  if (devices.length === 0)
    throw new LeakTraceError('no audit device is enabled: there is no audit log to trace the value in');
  const hashes: string[] = [];
  for (const device of devices) {
    try {
      hashes.push(await deps.vault.auditHash(device.path, value));
    } catch (error) {
      // The message of a failed call could echo the request body; only the device is named.
      throw new LeakTraceError(
        `sys/audit-hash/${device.path.replace(/\/$/, '')} failed: check the token may update it`,
        {
          cause: error instanceof SealwatchError ? error.code : undefined,
        },
      );
    }
  }
  const matches = await deps.analysis.eventsCarryingHashes(hashes);
  const matched = await matchSuspects(deps.analysis, EVERYTHING, suspects);
  const suspectsOf = (accessor: string | null) =>
    accessor === null
      ? []
      : matched.filter((m) => m.matched_actors.includes(`accessor:${accessor}`)).map((m) => m.suspect);
  deps.logger.info({ devices: devices.length, matches: matches.length }, 'leak traced');
  return {
    hash_lookups: hashes.length,
    events: onePerCall(matches).map((e) => ({ ...e, suspects: suspectsOf(e.accessor) })),
    suspects: matched,
  };
}

function onePerCall(matches: readonly AnalysisEvent[]): Omit<LeakEvent, 'suspects'>[] {
  const requested = new Set(
    matches.filter((e) => e.type === 'request' && e.request_id).map((e) => e.request_id),
  );
  return matches
    .filter((e) => e.type === 'request' || !e.request_id || !requested.has(e.request_id))
    .map((e) => ({
      time: e.time,
      type: e.type,
      operation: e.operation,
      path: e.path,
      display_name: e.display_name,
      remote_address: e.remote_address,
      accessor: e.accessor,
    }));
}
