import { isIP } from 'node:net';
import { parseAddress, type Suspect, type SuspectKind } from '../config/suspect.js';
import { SealwatchError, UsageError } from '../errors.js';
import { registerSecret } from '../logging/redactor.js';
import type {
  ActorSelector,
  AnalysisWindow,
  AuditAnalysisRepository,
} from '../store/repositories/audit-analysis.repository.js';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../vault/errors.js';
import type { VaultClient } from '../vault/client.js';

export {
  canonicalSuspect,
  parseSuspect,
  parseSuspects,
  SUSPECT_KINDS,
  type Suspect,
  type SuspectKind,
} from '../config/suspect.js';

/** A suspect made concrete for the store: what its events are selected by. */
export interface ResolvedSuspect {
  suspect: Suspect;
  selector: ActorSelector;
}

export interface ResolveDeps {
  vault: Pick<VaultClient, 'listAuditDevices' | 'auditHash' | 'tokenLookup'>;
  /** Reads the leaked token of `token-stdin` (standard input); called once at most. */
  readTokenStdin?: () => Promise<string>;
}

/**
 * Turns suspects into selectors. Accessors and tokens are hashed through every audit device
 * (sys/audit-hash/<device>) so that they match a log whose device HMACs them; a raw accessor
 * matches a device that does not. A leaked token is looked up for its accessor while it lives; a
 * dead one is still found by the HMAC of the token that every call made with it carries.
 */
export async function resolveSuspects(
  suspects: readonly Suspect[],
  deps: ResolveDeps,
): Promise<ResolvedSuspect[]> {
  const hashesOf = async (value: string, suspect: Suspect): Promise<string[]> => {
    const devices = await deps.vault.listAuditDevices();
    const hashes: string[] = [];
    for (const device of devices)
      try {
        hashes.push(await deps.vault.auditHash(device.path, value));
      } catch (error) {
        // The message of a failed call could echo the request body (the token): only the device is named.
        throw new SealwatchError(
          'suspect_unresolved',
          `--suspect ${suspect.text}: sys/audit-hash/${device.path.replace(/\/$/, '')} failed: the token needs update on it`,
          { cause: error instanceof SealwatchError ? error.code : undefined },
        );
      }
    return hashes;
  };
  const resolved: ResolvedSuspect[] = [];
  for (const suspect of suspects) {
    const local = localSelector(suspect);
    if (local) {
      resolved.push({ suspect, selector: local });
      continue;
    }
    const bounds = boundsOf(suspect);
    switch (suspect.kind) {
      case 'accessor':
        resolved.push({
          suspect,
          selector: {
            kind: 'accessors',
            accessors: [suspect.value, ...(await hashesOf(suspect.value, suspect))],
            ...bounds,
          },
        });
        break;
      case 'token-stdin': {
        if (!deps.readTokenStdin)
          throw new UsageError(`--suspect ${suspect.text}: standard input is not available`);
        const token = (await deps.readTokenStdin()).trim();
        registerSecret(token);
        // Vault service tokens are hvs./s., batch hvb./b., OpenBao's the same; legacy ones 24+ chars.
        if (!/^[A-Za-z0-9._-]{20,}$/.test(token))
          throw new UsageError(
            `--suspect ${suspect.text}: standard input does not hold a Vault/OpenBao token`,
          );
        const accessors: string[] = [];
        try {
          const info = await deps.vault.tokenLookup(token);
          accessors.push(info.accessor, ...(await hashesOf(info.accessor, suspect)));
        } catch (error) {
          // A revoked or expired token is looked up as "bad token": its calls are still in the log
          // under the HMAC of the token, matched below. Any other failure stops the assessment.
          if (!(
            error instanceof BadRequestError ||
            error instanceof NotFoundError ||
            error instanceof PermissionDeniedError
          ))
            throw error;
        }
        resolved.push({
          suspect,
          selector: { kind: 'token', accessors, token_hashes: await hashesOf(token, suspect), ...bounds },
        });
        break;
      }
    }
  }
  return resolved;
}

function boundsOf(suspect: Suspect): { since?: string; until?: string } {
  return {
    ...(suspect.since ? { since: suspect.since } : {}),
    ...(suspect.until ? { until: suspect.until } : {}),
  };
}

/**
 * The selector of a suspect known from the audit log alone (role, entity, display name, address):
 * no Vault call. What `assess.allow_actors` entries are matched with, too. Undefined for accessors
 * and tokens, which are hashed through the audit devices first (resolveSuspects).
 */
export function localSelector(suspect: Suspect): ActorSelector | undefined {
  const bounds = boundsOf(suspect);
  switch (suspect.kind) {
    case 'accessor':
    case 'token-stdin':
      return undefined;
    case 'role': {
      const cut = suspect.value.lastIndexOf('/');
      return {
        kind: 'role',
        mount: suspect.value.slice(0, cut),
        role: suspect.value.slice(cut + 1),
        ...bounds,
      };
    }
    case 'entity':
      return { kind: 'entity', entity_id: suspect.value, ...bounds };
    case 'display-name':
      return { kind: 'display-name', display_name: suspect.value, ...bounds };
    case 'address': {
      const list = parseAddress(suspect.value, (why) => new UsageError(`--suspect ${suspect.text}: ${why}`));
      return {
        kind: 'address',
        matches: (address: string) => {
          const family = isIP(address);
          return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
        },
        ...bounds,
      };
    }
  }
}

/**
 * The accessor of the token sealwatch runs with, raw and as each audit device HMACs it: the
 * responder's own reads never count as a reader of `--scope conservative`.
 */
export async function responderAccessors(
  vault: Pick<VaultClient, 'listAuditDevices' | 'auditHash' | 'tokenLookupSelf'>,
): Promise<string[]> {
  const { accessor } = await vault.tokenLookupSelf();
  const hashes = await Promise.all(
    (await vault.listAuditDevices()).map((device) => vault.auditHash(device.path, accessor)),
  );
  return [accessor, ...hashes];
}

/** What one suspect matched in the window. */
export interface SuspectMatch {
  suspect: string;
  kind: SuspectKind;
  /** Actor keys (`accessor:…`, or `address:…` for calls without a token). */
  matched_actors: string[];
  matched_events: number;
}

/** What each suspect matched in the window, as actor keys with their event counts. */
export async function matchSuspects(
  analysis: Pick<AuditAnalysisRepository, 'actorsMatching'>,
  window: AnalysisWindow,
  suspects: readonly ResolvedSuspect[],
): Promise<SuspectMatch[]> {
  const matches: SuspectMatch[] = [];
  for (const { suspect, selector } of suspects) {
    const rows = await analysis.actorsMatching(window, selector);
    const actors = new Set<string>();
    let events = 0;
    for (const row of rows) {
      events += row.events;
      if (row.accessor !== null) actors.add(`accessor:${row.accessor}`);
    }
    matches.push({
      suspect: suspect.text,
      kind: suspect.kind,
      matched_actors: [...actors].sort(),
      matched_events: events,
    });
  }
  return matches;
}
