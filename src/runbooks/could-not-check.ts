import { VaultError } from '../vault/errors.js';
import type { Finding } from './finding.js';
import { shortError } from './nodes.js';

/** The id of every "could not check" finding: a diagnosis that holds one is never healthy. */
export const COULD_NOT_CHECK = 'could-not-check';

/**
 * A check a diagnosis could not make (refused, timed out, the server erred): a fact of its own,
 * never "nothing found". Names the capability and path the token sealwatch runs with would need.
 */
export interface UncheckedFact {
  /** What was not checked, as a clause: "whether secret/data/x still holds the leaked value". */
  check: string;
  capability: string;
  path: string;
  reason: string;
}

/** The policy capability an HTTP method needs (POST and PUT: `update`, or `create` for a new path). */
const CAPABILITY = new Map([
  ['GET', 'read'],
  ['LIST', 'list'],
  ['POST', 'update'],
  ['PUT', 'update'],
  ['PATCH', 'patch'],
  ['DELETE', 'delete'],
]);

const MOUNT_LOOKUP = 'sys/internal/ui/mounts/';

/**
 * The unchecked fact for a failed call: the refused request names the path and the capability;
 * `asked` says which call it was when the error does not (not a Vault answer).
 */
export function uncheckedFact(
  check: string,
  error: unknown,
  asked: { capability: string; path: string },
): UncheckedFact {
  // sys/internal/ui/mounts/<path> is refused to a token with no capability on <path>: that is the need.
  const need =
    error instanceof VaultError && !error.path.startsWith(MOUNT_LOOKUP)
      ? { capability: CAPABILITY.get(error.method) ?? asked.capability, path: error.path }
      : asked;
  return { check, ...need, reason: shortError(error) };
}

/** The promise's value, or undefined with its failure kept in `unchecked`. */
export function orUnchecked<T>(
  promise: Promise<T>,
  unchecked: UncheckedFact[],
  check: string,
  asked: { capability: string; path: string },
): Promise<T | undefined> {
  return promise.catch((error: unknown) => {
    unchecked.push(uncheckedFact(check, error, asked));
    return undefined;
  });
}

export function couldNotCheckFinding(fact: UncheckedFact): Finding {
  return {
    id: COULD_NOT_CHECK,
    severity: 'medium',
    symptom: `could not check ${fact.check}: needs capability ${fact.capability} on ${fact.path} (${fact.reason})`,
    evidence: { check: fact.check, capability: fact.capability, path: fact.path, error: fact.reason },
    suggested_step: `grant the token sealwatch runs with ${fact.capability} on ${fact.path} (or fix what the error names), then diagnose again`,
  };
}
